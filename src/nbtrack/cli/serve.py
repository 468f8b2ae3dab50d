"""Serving commands: ``serve`` (HTTP), ``predict`` (batch scoring), ``bundle`` (deployment bundle).

Each is one call of the Python API named in its help.
"""

from __future__ import annotations

import sys

import click

from . import cli
from .output import echo

TRUST = click.option("--trust", "trust", multiple=True, metavar="TYPE|all",
                     help="trust this type in the model file (repeatable), or 'all' (needed for pickled "
                          "models); as nbtrack.load_model(..., trust=...)")


def _trust(values: tuple[str, ...]):
    if not values:
        return None
    return True if "all" in values else list(values)


@cli.command("serve")
@click.argument("refs", nargs=-1, required=True, metavar="NAME@ALIAS...")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind (beyond loopback needs a token)")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--workers", type=int, default=1, show_default=True, help="server processes")
@click.option("--token-file", type=click.Path(dir_okay=False), help="file holding the bearer token (chmod 600); "
              "default: $NBTRACK_SERVE_TOKEN")
@TRUST
@click.option("--sample", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="share of requests written to the prediction log NAME.predictions")
@click.option("--no-log", is_flag=True, help="do not write the prediction log")
@click.option("--poll", type=float, default=2.0, show_default=True,
              help="seconds between alias checks (promotions and rollbacks are served within that time)")
@click.option("--flush-every", type=float, default=5.0, show_default=True,
              help="seconds between prediction-log writes")
@click.option("--max-body", type=int, default=32 << 20, show_default=True, help="largest request body in bytes")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="browser origin allowed to call the server, e.g. https://app.example.com (repeatable; "
              "'*' for any); default: none")
@click.option("--max-auth-failures", type=click.IntRange(0), default=10, show_default=True,
              help="failed bearer attempts per client address per minute before 429 (0: no limit)")
def serve_cmd(refs, host, port, workers, token_file, trust, sample, no_log, poll, flush_every, max_body,
              cors_origins, max_auth_failures) -> None:
    """Serve model versions over HTTP: POST /v1/models/NAME/predict, GET /v1/models, /health, /metrics.

    Each NAME@ALIAS (or NAME@N) is loaded now and served at /v1/models/NAME;
    an alias is re-read every --poll seconds and a moved alias switches the
    served version without a restart. Every route but /health needs
    'Authorization: Bearer TOKEN' when a token is set; without one, only
    loopback addresses may be bound.

    In Python: nbtrack.serve("churn@production")  (a background server)
    """
    from ..serve.server import Options, read_token, run

    opts = Options(list(refs), read_token(token_file), _trust(trust), sample, poll, flush_every, max_body,
                   log_predictions=not no_log, cors_origins=list(cors_origins),
                   max_auth_failures=max_auth_failures)
    echo(f"serving {', '.join(refs)} at http://{host}:{port} "
               f"({'token required' if opts.token else 'no token: loopback only'})", err=True)
    run(opts, host=host, port=port, workers=workers)


def _source(ctx, param, value: str) -> str:
    """A local file or folder that exists, or an fsspec URL (``s3://bucket/in/``) read as is."""
    if "://" in value and not value.startswith("file://"):
        return value
    return str(click.Path(exists=True, dir_okay=True).convert(value.removeprefix("file://"), param, ctx))


@cli.command("predict")
@click.argument("ref", metavar="NAME@ALIAS")
@click.argument("source", callback=_source)
@click.option("-o", "--output", required=True, type=click.Path(), help="where to write predictions (.parquet or .csv)")
@click.option("--proba", is_flag=True, help="write class probabilities (predict_proba) as proba_<class> columns")
@click.option("--chunk-rows", type=int, default=100_000, show_default=True, help="rows scored at a time")
@click.option("--keep", multiple=True, metavar="COLUMN", help="copy this input column to the output (repeatable)")
@click.option("--dask", metavar="SCHEDULER", help="score partitions on this Dask scheduler, e.g. tcp://host:8786")
@TRUST
def predict_cmd(ref, source, output, proba, chunk_rows, keep, dask, trust) -> None:
    """Score a parquet or CSV file (or folder of parquet files) with NAME@ALIAS into OUTPUT.

    SOURCE may be a URL (s3://bucket/in/); with --dask the workers read it themselves.

    Rows are read, validated against the version's signature and scored
    --chunk-rows at a time, so memory stays bounded for files larger than RAM.

    In Python: nbtrack.predict("churn@production", "in.parquet", "out.parquet")
    """
    from ..serve.batch import predict

    res = predict(ref, source, output, proba=proba, chunk_rows=chunk_rows, keep=list(keep), dask=dask,
                  trust=_trust(trust), progress=sys.stderr.isatty())
    echo(f"{res.rows} rows scored with {res.model}@{res.version} -> {res.output} ({res.seconds:.1f} s)")


@cli.command("bundle")
@click.argument("ref", required=False, metavar="NAME@ALIAS")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="bundle folder to create")
@click.option("--check", "check_dir", type=click.Path(file_okay=False, exists=True),
              help="verify the files of an existing bundle against its manifest instead")
@TRUST
def bundle_cmd(ref, output, check_dir, trust) -> None:
    """Write a deployment bundle of NAME@ALIAS: model file, requirements.txt, Dockerfile, serve.py.

    The bundle serves the version with no workspace: `python serve.py` (or
    `docker build`). `nbtrack bundle --check DIR` verifies every file's hash.

    In Python: nbtrack.bundle("churn@production", "dist/churn"); nbtrack.check_bundle("dist/churn")
    """
    from ..serve.bundle import bundle, check_bundle

    if check_dir:
        if ref or output:
            raise click.UsageError("--check DIR takes no NAME@ALIAS and no --output")
        report = check_bundle(check_dir)
        echo(f"{check_dir}: {report.files} files match the manifest ({report.model}@{report.version})")
        return
    if not ref or not output:
        raise click.UsageError("give NAME@ALIAS and -o DIR (or --check DIR)")
    b = bundle(ref, output, trust=_trust(trust))
    echo(f"bundle of {b.model}@{b.version} written to {b.path} ({len(b.files)} files)")


@cli.command("served")
@click.argument("name", required=False)
@click.option("--since", type=float, default=86400, show_default=True,
              help="also list servers stopped within this many seconds")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def served_cmd(name, since, fmt) -> None:
    """List model servers (running first) with the version each serves and its logged traffic.

    In Python: nbtrack.served("churn")
    """
    from ..serve.status import served
    from .output import print_frame

    print_frame(served(name, since=since), fmt, title="served models")
