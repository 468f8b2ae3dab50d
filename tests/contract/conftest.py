"""The contract suite's backends: every test here runs on (SQLite + local folder) and on
(PostgreSQL + S3), the S3 being a real S3-compatible HTTP server (moto)."""

from __future__ import annotations


import pytest


BACKENDS = [pytest.param("sqlite-local", id="sqlite-local"),
            pytest.param("postgres-s3", id="postgres-s3", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The workspace of one backend; the test runs in its tmp_path."""
    if request.param == "sqlite-local":
        ws = request.getfixturevalue("workspace")
        assert ws.objects.local and ws.meta_url.startswith("sqlite")
        return ws
    meta = request.getfixturevalue("pg_database")
    ws = request.getfixturevalue("s3_workspace_factory")(meta=meta)
    assert not ws.objects.local and ws.objects.url.startswith("s3://") and ws.meta_url.startswith("postgresql")
    return ws
