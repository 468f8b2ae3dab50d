# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split, GridSearchCV, cross_val_score, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.decomposition import PCA
from sklearn.metrics import accuracy_score, f1_score, ConfusionMatrixDisplay

# %%
data = load_wine()
wine = pd.DataFrame(data.data, columns=data.feature_names)
wine["cultivar"] = data.target
wine.shape

# %%
wine.info()

# %%
wine.isna().sum().sum()

# %%
corr = wine.corr()
plt.figure(figsize=(8, 6))
plt.imshow(corr, cmap="coolwarm", vmin=-1, vmax=1)
plt.colorbar()
plt.xticks(range(len(corr)), corr.columns, rotation=90)
plt.yticks(range(len(corr)), corr.columns)
plt.title("Feature correlations")
plt.tight_layout()
plt.show()

# %%
wine.boxplot(column="alcohol", by="cultivar")
plt.show()

# %% expect: params=seed
seed = 0
X = wine.drop(columns="cultivar")
y = wine["cultivar"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)

# %% expect: models=baseline<-X_train; metrics=baseline_acc
baseline = SVC().fit(X_train, y_train)
baseline_acc = baseline.score(X_test, y_test)
print("unscaled SVC:", round(baseline_acc, 3))

# %% expect: params=kernel; models=pipe<-X_train
kernel = "rbf"
pipe = Pipeline([("scaler", StandardScaler()), ("svc", SVC(kernel=kernel))])
pipe.fit(X_train, y_train)

# %% expect: metrics=accuracy_score
accuracy_score(y_test, pipe.predict(X_test))

# %% expect: params=n_splits; metrics=cv_scores.mean,cv_scores.std
n_splits = 5
cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
cv_scores = cross_val_score(pipe, X_train, y_train, cv=cv)
print(cv_scores.round(3))

# %% expect: params=param_grid; models=grid<-X_train; metrics=grid.best_score_
param_grid = {"svc__C": [0.1, 1, 10, 100], "svc__gamma": ["scale", 0.01, 0.1]}
grid = GridSearchCV(pipe, param_grid, cv=cv, n_jobs=1)
grid.fit(X_train, y_train)

# %%
grid.best_params_

# %% expect: metrics=grid.best_score_
grid.best_score_

# %%
results = pd.DataFrame(grid.cv_results_)
results[["param_svc__C", "param_svc__gamma", "mean_test_score", "std_test_score"]].sort_values("mean_test_score", ascending=False).head()

# %%
pivot = results.pivot_table(index="param_svc__C", columns="param_svc__gamma", values="mean_test_score")
pivot

# %%
plt.imshow(pivot.values, cmap="viridis")
plt.xticks(range(pivot.shape[1]), pivot.columns)
plt.yticks(range(pivot.shape[0]), pivot.index)
plt.colorbar(label="mean CV accuracy")
plt.title("Grid search")
plt.show()

# %% expect: metrics=test_acc,test_f1
best_model = grid.best_estimator_
y_pred = best_model.predict(X_test)
test_acc = accuracy_score(y_test, y_pred)
test_f1 = f1_score(y_test, y_pred, average="macro")
print(f"test accuracy {test_acc:.3f}, macro F1 {test_f1:.3f}")

# %%
ConfusionMatrixDisplay.from_predictions(y_test, y_pred)
plt.show()

# %% expect: params=n_components; models=pca_pipe<-X_train
n_components = 2
pca_pipe = make_pipeline(StandardScaler(), PCA(n_components=n_components))
X_2d = pca_pipe.fit_transform(X_train)
X_2d.shape

# %%
plt.scatter(X_2d[:, 0], X_2d[:, 1], c=y_train, cmap="viridis", s=15)
plt.xlabel("PC1")
plt.ylabel("PC2")
plt.title("Wine in two components")
plt.show()

# %%
explained = pca_pipe.named_steps["pca"].explained_variance_ratio_
explained.round(3)

# %% expect: models=svc_2d<-?; metrics=svc_2d_acc
svc_2d = SVC(C=grid.best_params_["svc__C"]).fit(X_2d, y_train)
svc_2d_acc = svc_2d.score(pca_pipe.transform(X_test), y_test)
svc_2d_acc

# %%
for C in [0.01, 0.1, 1]:
    scores = cross_val_score(make_pipeline(StandardScaler(), SVC(C=C)), X_train, y_train, cv=3)
    print(C, scores.mean().round(3))

# %%
wrong = X_test.assign(pred=y_pred, true=y_test)[y_pred != y_test]
wrong

# %%
# Which features separate the cultivars?
wine.groupby("cultivar")[["alcohol", "flavanoids", "color_intensity", "proline"]].mean().round(2)

# %%
wine.plot.scatter(x="flavanoids", y="proline", c="cultivar", colormap="viridis", title="Flavanoids vs proline")
plt.show()
