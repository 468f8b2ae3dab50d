"""The shared S3 fixtures give a real, isolated bucket: objects round-trip through nbtrack."""

from __future__ import annotations

import pandas as pd

import nbtrack


def test_s3_workspace_factory_round_trips_a_frame_on_sqlite_meta(s3_workspace_factory, s3_bucket):
    import s3fs

    ws = s3_workspace_factory()
    assert not ws.objects.local and ws.objects.url == f"{s3_bucket}/ws"
    df = pd.DataFrame({"x": range(1000), "y": [f"s{i}" for i in range(1000)]})
    with nbtrack.track("s3-fixture"):
        nbtrack.snapshot(df, "frame")
    assert nbtrack.load("frame").equals(df)
    keys = s3fs.S3FileSystem().find(s3_bucket)
    assert keys and all(k.startswith(s3_bucket.removeprefix("s3://") + "/ws/") for k in keys)


def test_each_test_gets_its_own_empty_bucket(s3_bucket):
    import s3fs

    assert s3fs.S3FileSystem().find(s3_bucket) == []
