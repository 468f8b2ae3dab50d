# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from sklearn.datasets import make_blobs, make_moons
from sklearn.cluster import KMeans, DBSCAN, AgglomerativeClustering
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import silhouette_score, adjusted_rand_score

# %% expect: params=n_samples,centers,cluster_std
n_samples = 500
centers = 4
cluster_std = 0.8
X, y_true = make_blobs(n_samples=n_samples, centers=centers, cluster_std=cluster_std, random_state=3)
points = pd.DataFrame(X, columns=["x1", "x2"])
points.describe()

# %%
plt.scatter(points["x1"], points["x2"], s=8)
plt.title("Unlabelled blobs")
plt.show()

# %% expect: params=k; models=kmeans<-points; metrics=kmeans.inertia_
k = 4
kmeans = KMeans(n_clusters=k, n_init=10, random_state=0)
kmeans.fit(points)
kmeans.inertia_

# %%
labels = kmeans.predict(points)
plt.scatter(points["x1"], points["x2"], c=labels, s=8, cmap="tab10")
plt.scatter(kmeans.cluster_centers_[:, 0], kmeans.cluster_centers_[:, 1], c="k", marker="x", s=100)
plt.title("KMeans with k=4")
plt.show()

# %% expect: metrics=sil
sil = silhouette_score(points, labels)
print("silhouette:", round(sil, 3))

# %% expect: metrics=adjusted_rand_score
adjusted_rand_score(y_true, labels)

# %%
inertias = []
silhouettes = []
k_range = range(2, 9)
for n_clusters in k_range:
    km = KMeans(n_clusters=n_clusters, n_init=5, random_state=0).fit(points)
    inertias.append(km.inertia_)
    silhouettes.append(silhouette_score(points, km.labels_))

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.plot(list(k_range), inertias, "bo-")
ax1.set_title("Elbow")
ax2.plot(list(k_range), silhouettes, "ro-")
ax2.set_title("Silhouette")
plt.show()

# %%
best_k = list(k_range)[int(np.argmax(silhouettes))]
best_k

# %%
stability = []
for run in range(5):
    km = KMeans(n_clusters=best_k, n_init=1).fit(points)
    stability.append(adjusted_rand_score(labels, km.labels_) > 0.5)
print(len(stability), "runs")

# %% expect: params=eps,min_samples
eps, min_samples = 0.2, 5
moons, moon_labels = make_moons(n_samples=300, noise=0.05, random_state=0)
moons_df = pd.DataFrame(moons, columns=["a", "b"])

# %% expect: models=dbscan<-moons_df
dbscan = DBSCAN(eps=eps, min_samples=min_samples)
dbscan.fit(moons_df)
n_clusters_found = len(set(dbscan.labels_)) - (1 if -1 in dbscan.labels_ else 0)
print("clusters:", n_clusters_found)

# %%
plt.scatter(moons_df["a"], moons_df["b"], c=dbscan.labels_, cmap="Paired", s=10)
plt.title("DBSCAN on moons")
plt.show()

# %% expect: metrics=kmeans_moons_ari,dbscan_ari
kmeans_moons = KMeans(n_clusters=2, n_init=10, random_state=0).fit_predict(moons_df)
kmeans_moons_ari = adjusted_rand_score(moon_labels, kmeans_moons)
dbscan_ari = adjusted_rand_score(moon_labels, dbscan.labels_)
print(round(kmeans_moons_ari, 3), round(dbscan_ari, 3))

# %% expect: models=agg<-moons_df
agg = AgglomerativeClustering(n_clusters=2, linkage="single")
agg.fit(moons_df)
np.bincount(agg.labels_)

# %%
wide = pd.DataFrame(np.hstack([X, X @ np.array([[0.5, 0.1], [0.2, 0.9]])]), columns=["f1", "f2", "f3", "f4"])
wide.corr().round(2)

# %% expect: models=pca<-?
pca = PCA(n_components=2)
projected = pca.fit_transform(StandardScaler().fit_transform(wide))
pca.explained_variance_ratio_.round(3)

# %%
plt.scatter(projected[:, 0], projected[:, 1], c=labels, s=8, cmap="tab10")
plt.title("PCA projection")
plt.show()

# %%
cluster_sizes = pd.Series(labels).value_counts().sort_index()
cluster_sizes

# %%
centroids = pd.DataFrame(kmeans.cluster_centers_, columns=["x1", "x2"]).round(2)
centroids

# %%
points.assign(cluster=labels).groupby("cluster").agg(["mean", "std"]).round(2)

# %% expect: models=mini<-?; metrics=mini_sil
from sklearn.cluster import MiniBatchKMeans
mini = MiniBatchKMeans(n_clusters=4, n_init=3, random_state=0, batch_size=100).fit(X)
mini_sil = silhouette_score(X, mini.labels_)
mini_sil
