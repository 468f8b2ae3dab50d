"""Approved notebooks as pipelines: papermill runs, parameters, gates, sweeps, reproduce.

``run.run_pipeline`` (``nbtrack run``), ``sweep.sweep`` (``nbtrack sweep``) and
``reproduce.reproduce`` (``nbtrack reproduce``) are the entry points; papermill and
Dask are imported only when a pipeline actually runs.
"""
