# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, classification_report
%matplotlib inline

# %%
iris = load_iris(as_frame=True)
df = iris.frame
df.head()

# %%
df.describe()

# %%
df["target"].value_counts()

# %%
species = dict(enumerate(iris.target_names))
df["species"] = df["target"].map(species)
df.groupby("species").mean()

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for name, group in df.groupby("species"):
    axes[0].scatter(group["sepal length (cm)"], group["sepal width (cm)"], label=name)
    axes[1].scatter(group["petal length (cm)"], group["petal width (cm)"], label=name)
axes[0].set_title("Sepal")
axes[1].set_title("Petal")
axes[0].legend()
plt.show()

# %%
df["petal length (cm)"].hist(bins=20)
plt.xlabel("petal length (cm)")
plt.show()

# %% expect: params=test_size,random_state
test_size = 0.25
random_state = 42
features = iris.feature_names
X = df[features]
y = df["target"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=random_state, stratify=y)
print(X_train.shape, X_test.shape)

# %% expect: params=C,max_iter; models=log_reg<-X_train
C = 1.0
max_iter = 200
log_reg = LogisticRegression(C=C, max_iter=max_iter)
log_reg.fit(X_train, y_train)

# %% expect: metrics=acc
y_pred = log_reg.predict(X_test)
acc = accuracy_score(y_test, y_pred)
print(f"Accuracy: {acc:.3f}")

# %%
cm = confusion_matrix(y_test, y_pred)
cm

# %%
print(classification_report(y_test, y_pred, target_names=iris.target_names))

# %%
plt.imshow(cm, cmap="Blues")
plt.title("Confusion matrix")
plt.colorbar()
plt.show()

# %%
k_values = range(1, 16)
train_scores = []
test_scores = []
for k in k_values:
    knn = KNeighborsClassifier(n_neighbors=k)
    knn.fit(X_train, y_train)
    train_scores.append(knn.score(X_train, y_train))
    test_scores.append(knn.score(X_test, y_test))

# %%
plt.plot(k_values, train_scores, label="train")
plt.plot(k_values, test_scores, label="test")
plt.xlabel("k")
plt.ylabel("accuracy")
plt.legend()
plt.title("KNN accuracy vs k")
plt.show()

# %% expect: metrics=best_k_score
best_k = int(np.argmax(test_scores)) + 1
best_k_score = max(test_scores)
print(best_k, best_k_score)

# %% expect: params=n_neighbors,weights; models=knn_clf<-X_train; metrics=knn_clf.score
n_neighbors = 5
weights = "distance"
knn_clf = KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights).fit(X_train, y_train)
knn_clf.score(X_test, y_test)

# %%
proba = log_reg.predict_proba(X_test)
proba[:5].round(3)

# %%
coef = pd.DataFrame(log_reg.coef_, columns=features, index=iris.target_names)
coef

# %%
coef.T.plot.bar(figsize=(8, 4))
plt.ylabel("coefficient")
plt.show()

# %%
errors = X_test[y_pred != y_test]
errors

# %%
def predict_species(model, measurements):
    frame = pd.DataFrame([measurements], columns=features)
    return iris.target_names[model.predict(frame)[0]]

predict_species(log_reg, [5.1, 3.5, 1.4, 0.2])

# %%
samples = [[6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
[predict_species(knn_clf, s) for s in samples]

# %%
pd.plotting.scatter_matrix(X, c=y, figsize=(8, 8), diagonal="hist")
plt.show()

# %%
df.drop(columns="target").groupby("species").agg(["mean", "std"]).round(2)

# %% expect: params=petal_threshold; metrics=rule_accuracy
# A one-rule baseline: setosa has short petals
petal_threshold = 2.5
rule_pred = np.where(X_test["petal length (cm)"] < petal_threshold, 0, 1)
rule_accuracy = (rule_pred[y_test.values == 0] == 0).mean()
rule_accuracy

# %%
pd.crosstab(y_test, y_pred, rownames=["true"], colnames=["predicted"])
