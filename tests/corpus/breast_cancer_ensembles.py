# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split, cross_val_score, cross_validate
from sklearn.tree import DecisionTreeClassifier, plot_tree
from sklearn.ensemble import RandomForestClassifier, GradientBoostingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
from sklearn.metrics import roc_auc_score, roc_curve, accuracy_score, log_loss

# %%
cancer = load_breast_cancer(as_frame=True)
X_full = cancer.data
y_full = cancer.target
print(X_full.shape)

# %%
X_full.iloc[:, :6].describe().T

# %%
y_full.value_counts(normalize=True)

# %%
X_full[["mean radius", "mean texture"]].plot.scatter(x="mean radius", y="mean texture", c=y_full, colormap="coolwarm")
plt.title("Radius vs texture")
plt.show()

# %% expect: params=SEED
SEED = 7
X_train, X_test, y_train, y_test = train_test_split(X_full, y_full, test_size=0.3, random_state=SEED, stratify=y_full)

# %% expect: params=max_depth; models=tree_clf<-X_train; metrics=tree_acc
max_depth = 3
tree_clf = DecisionTreeClassifier(max_depth=max_depth, random_state=SEED)
tree_clf.fit(X_train, y_train)
tree_acc = accuracy_score(y_test, tree_clf.predict(X_test))
print("tree accuracy:", round(tree_acc, 3))

# %%
plt.figure(figsize=(14, 6))
plot_tree(tree_clf, feature_names=list(X_train.columns), filled=True, max_depth=2, fontsize=7)
plt.show()

# %%
depths = range(1, 11)
depth_scores = [cross_val_score(DecisionTreeClassifier(max_depth=d, random_state=SEED), X_train, y_train, cv=5).mean()
                for d in depths]
plt.plot(list(depths), depth_scores, marker="o")
plt.xlabel("max_depth")
plt.ylabel("CV accuracy")
plt.show()

# %% expect: params=n_estimators,max_features; models=rf_clf<-X_train; metrics=rf_auc
n_estimators, max_features = 100, "sqrt"
rf_clf = RandomForestClassifier(n_estimators=n_estimators, max_features=max_features, random_state=SEED, n_jobs=1)
rf_clf.fit(X_train, y_train)
rf_proba = rf_clf.predict_proba(X_test)[:, 1]
rf_auc = roc_auc_score(y_test, rf_proba)
print(f"Random forest AUC: {rf_auc:.4f}")

# %%
importances = pd.Series(rf_clf.feature_importances_, index=X_train.columns).sort_values(ascending=False)
importances.head(10).plot.barh()
plt.gca().invert_yaxis()
plt.title("Top 10 feature importances")
plt.show()

# %%
fpr, tpr, thresholds = roc_curve(y_test, rf_proba)
plt.plot(fpr, tpr, label="random forest")
plt.plot([0, 1], [0, 1], "k--")
plt.xlabel("False positive rate")
plt.ylabel("True positive rate")
plt.legend()
plt.show()

# %% expect: params=learning_rate; models=gb_clf<-X_train; metrics=gb_logloss,gb_auc
learning_rate = 0.1
gb_clf = GradientBoostingClassifier(n_estimators=50, learning_rate=learning_rate, random_state=SEED)
gb_clf.fit(X_train, y_train)
gb_logloss = log_loss(y_test, gb_clf.predict_proba(X_test))
gb_auc = roc_auc_score(y_test, gb_clf.predict_proba(X_test)[:, 1])

# %%
staged = [accuracy_score(y_test, p) for p in gb_clf.staged_predict(X_test)]
plt.plot(staged)
plt.xlabel("boosting stage")
plt.ylabel("test accuracy")
plt.title("Gradient boosting stages")
plt.show()

# %%
def fit_and_report(model, name):
    model.fit(X_train, y_train)
    proba = model.predict_proba(X_test)[:, 1]
    print(f"{name:>10}: accuracy={accuracy_score(y_test, model.predict(X_test)):.3f} auc={roc_auc_score(y_test, proba):.3f}")
    return model

# %% expect: models=log_clf<-?
log_clf = fit_and_report(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), "logistic")

# %% expect: models=voting_clf<-X_train; metrics=voting_acc
voting_clf = VotingClassifier(
    estimators=[("lr", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))),
                ("rf", RandomForestClassifier(n_estimators=50, random_state=SEED)),
                ("gb", GradientBoostingClassifier(n_estimators=30, random_state=SEED))],
    voting="soft")
voting_clf.fit(X_train, y_train)
voting_acc = voting_clf.score(X_test, y_test)
voting_acc

# %% expect: metrics=cv_accuracy,cv_auc
cv_out = cross_validate(rf_clf, X_train, y_train, cv=3, scoring=["accuracy", "roc_auc"])
cv_accuracy = cv_out["test_accuracy"].mean()
cv_auc = cv_out["test_roc_auc"].mean()
print(f"CV accuracy {cv_accuracy:.3f}, CV AUC {cv_auc:.3f}")

# %%
summary = pd.DataFrame({
    "model": ["tree", "forest", "boosting", "voting"],
    "accuracy": [tree_acc, accuracy_score(y_test, rf_clf.predict(X_test)), accuracy_score(y_test, gb_clf.predict(X_test)), voting_acc],
})
summary.sort_values("accuracy", ascending=False)

# %%
summary.plot.bar(x="model", y="accuracy", legend=False, ylim=(0.85, 1.0))
plt.show()

# %% expect: params=thresholds_to_try
thresholds_to_try = [0.3, 0.5, 0.7]
for t in thresholds_to_try:
    pred_t = (rf_proba >= t).astype(int)
    print(t, round(accuracy_score(y_test, pred_t), 3))

# %%
errors = X_test[(rf_proba >= 0.5).astype(int) != y_test]
errors.shape

# %% expect: params=top_n
top_n = 5
top_features = importances.index[:top_n].tolist()
top_features

# %% expect: models=small_rf<-X_top; metrics=small_rf_auc
X_top = X_train[top_features]
small_rf = RandomForestClassifier(n_estimators=50, random_state=SEED).fit(X_top, y_train)
small_rf_auc = roc_auc_score(y_test, small_rf.predict_proba(X_test[top_features])[:, 1])
print("AUC with the top features only:", round(small_rf_auc, 4))
