# %%
import time
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split, cross_val_score, KFold
from sklearn.linear_model import LinearRegression, Ridge, Lasso
from sklearn.metrics import mean_squared_error, r2_score, mean_absolute_error

# %%
diabetes = load_diabetes(as_frame=True)
df = diabetes.frame.copy()
print(diabetes.DESCR[:300])

# %%
df.head(10)

# %%
df.corr()["target"].sort_values()

# %%
fig, ax = plt.subplots(figsize=(6, 4))
ax.scatter(df["bmi"], df["target"], alpha=0.5)
ax.set_xlabel("bmi")
ax.set_ylabel("disease progression")
ax.set_title("BMI vs progression")
plt.show()

# %%
df["target"].plot.hist(bins=30, title="Target distribution")
plt.show()

# %% expect: params=test_size
test_size = 0.2
X = df.drop(columns="target")
y = df["target"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=1)
len(X_train), len(X_test)

# %% expect: models=lin_reg<-X_train
t0 = time.time()
lin_reg = LinearRegression()
lin_reg.fit(X_train, y_train)
fit_seconds = time.time() - t0

# %% expect: metrics=rmse,r2
y_pred = lin_reg.predict(X_test)
rmse = np.sqrt(mean_squared_error(y_test, y_pred))
r2 = r2_score(y_test, y_pred)
print(f"RMSE {rmse:.1f}  R2 {r2:.3f}")

# %% expect: metrics=mean_absolute_error
mean_absolute_error(y_test, y_pred)

# %%
residuals = y_test - y_pred
plt.scatter(y_pred, residuals, alpha=0.6)
plt.axhline(0, color="k", lw=1)
plt.xlabel("predicted")
plt.ylabel("residual")
plt.title("Residuals")
plt.show()

# %%
coefs = pd.Series(lin_reg.coef_, index=X.columns).sort_values()
coefs.plot.barh()
plt.title("Linear regression coefficients")
plt.show()

# %% expect: params=alphas
alphas = [0.01, 0.1, 1.0, 10.0]
ridge_rmse = []
for alpha in alphas:
    ridge = Ridge(alpha=alpha).fit(X_train, y_train)
    ridge_rmse.append(np.sqrt(mean_squared_error(y_test, ridge.predict(X_test))))
ridge_rmse

# %%
plt.semilogx(alphas, ridge_rmse, marker="o")
plt.xlabel("alpha")
plt.ylabel("test RMSE")
plt.show()

# %% expect: params=alpha; models=ridge_reg<-X_train; metrics=ridge_r2
alpha = 0.1
ridge_reg = Ridge(alpha=alpha)
ridge_reg.fit(X_train, y_train)
ridge_r2 = ridge_reg.score(X_test, y_test)

# %% expect: params=lasso_alpha; models=lasso<-X_train; metrics=lasso_rmse
lasso_alpha = 0.5
lasso = Lasso(alpha=lasso_alpha, max_iter=10000).fit(X_train, y_train)
lasso_rmse = mean_squared_error(y_test, lasso.predict(X_test)) ** 0.5
n_zero = int((lasso.coef_ == 0).sum())
print("lasso RMSE", round(lasso_rmse, 1), "zero coefficients:", n_zero)

# %% expect: metrics=neg_mse.mean,neg_mse.std
kfold = KFold(n_splits=5, shuffle=True, random_state=0)
neg_mse = cross_val_score(LinearRegression(), X, y, cv=kfold, scoring="neg_mean_squared_error")
neg_mse

# %% expect: metrics=cv_rmse
cv_rmse = np.sqrt(-neg_mse).mean()
cv_rmse

# %%
def evaluate(model, X_tr, y_tr, X_te, y_te):
    model.fit(X_tr, y_tr)
    pred = model.predict(X_te)
    return {"rmse": mean_squared_error(y_te, pred) ** 0.5, "r2": r2_score(y_te, pred)}

# %%
comparison = pd.DataFrame({name: evaluate(m, X_train, y_train, X_test, y_test)
                           for name, m in [("linear", LinearRegression()), ("ridge", Ridge(alpha=1.0)),
                                           ("lasso", Lasso(alpha=0.5, max_iter=10000))]}).T
comparison

# %%
comparison["rmse"].plot.bar(title="RMSE by model")
plt.show()

# %% expect: models=bmi_model<-X_bmi; metrics=bmi_r2
X_bmi = X_train[["bmi"]]
bmi_model = LinearRegression().fit(X_bmi, y_train)
bmi_r2 = bmi_model.score(X_test[["bmi"]], y_test)
print(round(bmi_r2, 3))

# %%
grid_x = np.linspace(X["bmi"].min(), X["bmi"].max(), 50)
plt.scatter(X_test["bmi"], y_test, alpha=0.5)
plt.plot(grid_x, bmi_model.predict(pd.DataFrame({"bmi": grid_x})), color="red")
plt.title("Simple regression on BMI")
plt.show()

# %%
bootstrap_r2 = []
for _ in range(20):
    idx = np.random.choice(len(X_train), len(X_train))
    m = LinearRegression().fit(X_train.iloc[idx], y_train.iloc[idx])
    bootstrap_r2.append(m.score(X_test, y_test))
print(len(bootstrap_r2))

# %%
print("mean bootstrap R2 above 0.3:", np.mean(bootstrap_r2) > 0.3)

# %% expect: params=age_bins
age_bins = [-0.2, -0.05, 0.0, 0.05, 0.2]
df["age_group"] = pd.cut(df["age"], bins=age_bins, labels=["young", "adult", "middle", "senior"])
df.groupby("age_group", observed=True)["target"].agg(["mean", "count"])

# %%
df.boxplot(column="target", by="age_group")
plt.title("Progression by age group")
plt.suptitle("")
plt.show()
