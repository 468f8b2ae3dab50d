# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score, RandomizedSearchCV
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_squared_error

# %% expect: params=n
# Build a housing table like the classic districts data set (no download needed)
rng = np.random.default_rng(42)
n = 600
income = rng.gamma(shape=4.0, scale=1.0, size=n)
rooms = rng.normal(5, 1.2, size=n).clip(1) * 100
housing = pd.DataFrame({
    "longitude": rng.uniform(-124, -114, n),
    "latitude": rng.uniform(32, 42, n),
    "housing_median_age": rng.integers(1, 52, n),
    "total_rooms": rooms.round(),
    "total_bedrooms": (rooms * rng.uniform(0.15, 0.25, n)).round(),
    "population": rng.integers(100, 3000, n),
    "households": (rooms / rng.uniform(4, 6, n)).round(),
    "median_income": income,
    "ocean_proximity": rng.choice(["<1H OCEAN", "INLAND", "NEAR BAY", "NEAR OCEAN"], n),
})
housing["median_house_value"] = (income * 40000 + rng.normal(0, 20000, n)).clip(15000, 500000)
housing.loc[rng.choice(n, 12, replace=False), "total_bedrooms"] = np.nan
housing.head()

# %%
housing.info()

# %%
housing["ocean_proximity"].value_counts()

# %%
housing.hist(bins=30, figsize=(12, 8))
plt.show()

# %%
housing["income_cat"] = pd.cut(housing["median_income"], bins=[0.0, 1.5, 3.0, 4.5, 6.0, np.inf],
                               labels=[1, 2, 3, 4, 5])
housing["income_cat"].value_counts().sort_index()

# %%
housing["income_cat"].value_counts().sort_index().plot.bar(rot=0, grid=True)
plt.xlabel("Income category")
plt.ylabel("Number of districts")
plt.show()

# %% expect: params=n_splits_,test_ratio
n_splits_, test_ratio = 1, 0.2
split = StratifiedShuffleSplit(n_splits=n_splits_, test_size=test_ratio, random_state=42)
for train_index, test_index in split.split(housing, housing["income_cat"]):
    strat_train_set = housing.iloc[train_index]
    strat_test_set = housing.iloc[test_index]

# %%
strat_test_set["income_cat"].value_counts() / len(strat_test_set)

# %%
for set_ in (strat_train_set, strat_test_set):
    set_.drop("income_cat", axis=1, inplace=True)

# %%
housing = strat_train_set.copy()
housing.plot(kind="scatter", x="longitude", y="latitude", alpha=0.4, s=housing["population"] / 100,
             c="median_house_value", cmap="jet", colorbar=True, figsize=(8, 6))
plt.show()

# %%
corr_matrix = housing.drop(columns="ocean_proximity").corr()
corr_matrix["median_house_value"].sort_values(ascending=False)

# %%
housing = strat_train_set.drop("median_house_value", axis=1)
housing_labels = strat_train_set["median_house_value"].copy()
housing_num = housing.drop("ocean_proximity", axis=1)

# %% expect: params=rooms_ix,bedrooms_ix,population_ix,households_ix
rooms_ix, bedrooms_ix, population_ix, households_ix = 3, 4, 5, 6

class CombinedAttributesAdder(BaseEstimator, TransformerMixin):
    def __init__(self, add_bedrooms_per_room=True):
        self.add_bedrooms_per_room = add_bedrooms_per_room

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        X = np.asarray(X)
        rooms_per_household = X[:, rooms_ix] / X[:, households_ix]
        population_per_household = X[:, population_ix] / X[:, households_ix]
        if self.add_bedrooms_per_room:
            bedrooms_per_room = X[:, bedrooms_ix] / X[:, rooms_ix]
            return np.c_[X, rooms_per_household, population_per_household, bedrooms_per_room]
        return np.c_[X, rooms_per_household, population_per_household]

# %% expect: params=cat_attribs; models=full_pipeline<-housing
num_pipeline = Pipeline([
    ("imputer", SimpleImputer(strategy="median")),
    ("attribs_adder", CombinedAttributesAdder()),
    ("std_scaler", StandardScaler()),
])
num_attribs = list(housing_num)
cat_attribs = ["ocean_proximity"]
full_pipeline = ColumnTransformer([
    ("num", num_pipeline, num_attribs),
    ("cat", OneHotEncoder(), cat_attribs),
])
housing_prepared = full_pipeline.fit_transform(housing)
housing_prepared.shape

# %% expect: models=lin_reg<-?; metrics=lin_rmse
lin_reg = LinearRegression()
lin_reg.fit(housing_prepared, housing_labels)
housing_predictions = lin_reg.predict(housing_prepared)
lin_rmse = np.sqrt(mean_squared_error(housing_labels, housing_predictions))
lin_rmse

# %% expect: models=tree_reg<-?; metrics=tree_rmse
tree_reg = DecisionTreeRegressor(random_state=42)
tree_reg.fit(housing_prepared, housing_labels)
tree_rmse = np.sqrt(mean_squared_error(housing_labels, tree_reg.predict(housing_prepared)))
tree_rmse

# %% expect: metrics=scores.mean,scores.std,tree_rmse_scores.mean,tree_rmse_scores.std
scores = cross_val_score(tree_reg, housing_prepared, housing_labels, scoring="neg_mean_squared_error", cv=5)
tree_rmse_scores = np.sqrt(-scores)

# %%
def display_scores(scores):
    print("Scores:", scores.round(0))
    print("Mean:", round(scores.mean(), 0))
    print("Standard deviation:", round(scores.std(), 0))

display_scores(tree_rmse_scores)

# %% expect: params=n_estimators; models=forest_reg<-?; metrics=forest_scores.mean,forest_scores.std,forest_rmse_scores.mean,forest_rmse_scores.std
n_estimators = 30
forest_reg = RandomForestRegressor(n_estimators=n_estimators, random_state=42)
forest_reg.fit(housing_prepared, housing_labels)
forest_scores = cross_val_score(forest_reg, housing_prepared, housing_labels, scoring="neg_mean_squared_error", cv=3)
forest_rmse_scores = np.sqrt(-forest_scores)
display_scores(forest_rmse_scores)

# %% expect: params=param_distribs; models=rnd_search<-?; metrics=rnd_search.best_score_
param_distribs = {"n_estimators": [10, 20, 30], "max_features": [2, 4, 6, 8]}
rnd_search = RandomizedSearchCV(RandomForestRegressor(random_state=42), param_distributions=param_distribs,
                                n_iter=4, cv=3, scoring="neg_mean_squared_error", random_state=42)
rnd_search.fit(housing_prepared, housing_labels)

# %%
cvres = rnd_search.cv_results_
for mean_score, params in zip(cvres["mean_test_score"], cvres["params"]):
    print(int(np.sqrt(-mean_score)), params)

# %%
feature_importances = rnd_search.best_estimator_.feature_importances_
extra_attribs = ["rooms_per_hhold", "pop_per_hhold", "bedrooms_per_room"]
cat_one_hot_attribs = list(full_pipeline.named_transformers_["cat"].categories_[0])
attributes = num_attribs + extra_attribs + cat_one_hot_attribs
sorted(zip(feature_importances.round(3), attributes), reverse=True)[:5]

# %% expect: metrics=final_rmse
final_model = rnd_search.best_estimator_
X_test = strat_test_set.drop("median_house_value", axis=1)
y_test = strat_test_set["median_house_value"].copy()
X_test_prepared = full_pipeline.transform(X_test)
final_predictions = final_model.predict(X_test_prepared)
final_rmse = np.sqrt(mean_squared_error(y_test, final_predictions))
final_rmse

# %% expect: models=full_model<-housing
full_model = Pipeline([("preparation", full_pipeline), ("forest", RandomForestRegressor(n_estimators=20, random_state=42))])
full_model.fit(housing, housing_labels)

# %%
some_data = housing.iloc[:5]
full_model.predict(some_data).round(0)
