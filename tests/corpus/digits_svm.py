# %%
import numpy as np
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split, learning_curve
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC, LinearSVC
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, precision_score, recall_score, confusion_matrix

# %%
digits = load_digits()
X, y = digits.data, digits.target
X.shape, y.shape

# %%
fig, axes = plt.subplots(2, 8, figsize=(10, 3))
for ax, image, label in zip(axes.ravel(), digits.images, digits.target):
    ax.imshow(image, cmap="gray_r")
    ax.set_title(label)
    ax.axis("off")
plt.show()

# %%
np.bincount(y)

# %% expect: models=scaler<-?
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
scaler = StandardScaler()
X_train_scaled = scaler.fit_transform(X_train)
X_test_scaled = scaler.transform(X_test)

# %% expect: params=C1,C2
C1, C2 = 0.001, 1000
print(C1, C2)

# %% expect: models=svm_clf<-?; metrics=svm_acc
svm_clf = LinearSVC(C=1, max_iter=5000)
svm_clf.fit(X_train_scaled, y_train)
svm_acc = accuracy_score(y_test, svm_clf.predict(X_test_scaled))
print("LinearSVC", round(svm_acc, 3))

# %% expect: models=svm_clf-SVC<-?; metrics=svm_clf.score
svm_clf = SVC(kernel="rbf", gamma="scale", C=C2)
svm_clf.fit(X_train_scaled, y_train)
svm_clf.score(X_test_scaled, y_test)

# %% expect: models=svm_low<-?; metrics=low_acc
svm_low = SVC(C=C1).fit(X_train_scaled, y_train)
low_acc = svm_low.score(X_test_scaled, y_test)
low_acc

# %% expect: params=gamma; models=svm_clf-SVC<-?; metrics=svm_clf.score
gamma = 0.01
svm_clf = SVC(kernel="rbf", gamma=gamma, C=10).fit(X_train_scaled, y_train)
svm_clf.score(X_test_scaled, y_test)

# %%
y_pred = svm_clf.predict(X_test_scaled)
cm = confusion_matrix(y_test, y_pred)
plt.matshow(cm, cmap=plt.cm.gray)
plt.show()

# %%
row_sums = cm.sum(axis=1, keepdims=True)
norm_cm = cm / row_sums
np.fill_diagonal(norm_cm, 0)
plt.matshow(norm_cm, cmap=plt.cm.gray)
plt.title("Errors")
plt.show()

# %% expect: metrics=precision,recall
precision = precision_score(y_test, y_pred, average="macro")
recall = recall_score(y_test, y_pred, average="macro")
print(f"precision={precision:.3f} recall={recall:.3f}")

# %% expect: params=loss; models=sgd_clf<-?
loss = "hinge"
sgd_clf = SGDClassifier(loss=loss, random_state=42)
sgd_clf.fit(X_train_scaled, y_train)

# %% expect: metrics=sgd_acc
sgd_acc = (sgd_clf.predict(X_test_scaled) == y_test).mean()
print(sgd_acc.round(3))

# %%
some_digit = X_test[0]
plt.imshow(some_digit.reshape(8, 8), cmap="binary")
plt.axis("off")
plt.show()

# %%
sgd_clf.decision_function(scaler.transform([some_digit])).round(1)

# %%
train_sizes, train_scores, valid_scores = learning_curve(
    make_pipeline(StandardScaler(), SVC(gamma=0.01, C=10)), X, y, train_sizes=[0.2, 0.4, 0.6, 0.8, 1.0], cv=3)

# %%
plt.plot(train_sizes, train_scores.mean(axis=1), "o-", label="train")
plt.plot(train_sizes, valid_scores.mean(axis=1), "o-", label="validation")
plt.xlabel("training examples")
plt.ylabel("accuracy")
plt.legend()
plt.title("Learning curve")
plt.show()

# %%
misclassified = np.where(y_pred != y_test)[0]
len(misclassified)

# %%
fig, axes = plt.subplots(1, min(5, len(misclassified)), figsize=(8, 2))
for ax, i in zip(np.atleast_1d(axes), misclassified[:5]):
    ax.imshow(X_test[i].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"{y_test[i]} -> {y_pred[i]}")
    ax.axis("off")
plt.show()

# %%
models = {"linear": LinearSVC(max_iter=5000), "rbf": SVC(gamma="scale")}
for name, model in models.items():
    model.fit(X_train_scaled, y_train)
    print(name, round(model.score(X_test_scaled, y_test), 3))

# %%
per_class = {d: accuracy_score(y_test[y_test == d], y_pred[y_test == d]) for d in range(10)}
per_class

# %%
worst = min(per_class, key=per_class.get)
print("hardest digit:", worst)

# %% expect: metrics=zero_precision
zero_precision = precision_score(y_test == 0, y_pred == 0)
print("precision for digit 0:", round(zero_precision, 3))

# %%
mean_images = np.array([X_train[y_train == d].mean(axis=0) for d in range(10)])
fig, axes = plt.subplots(1, 10, figsize=(10, 1.5))
for d, ax in enumerate(axes):
    ax.imshow(mean_images[d].reshape(8, 8), cmap="gray_r")
    ax.axis("off")
plt.show()
