"""Interoperability with other tracking systems: MLflow export and import.

``export_mlflow`` writes the workspace's runs, artifacts, dataset inputs and
registered models into an MLflow tracking store; ``import_mlflow`` brings an
MLflow store's runs and registered models into the workspace. Both are
idempotent (a mapping tag on each side) and import MLflow only when called,
so ``import nbtrack`` stays fast.
"""
