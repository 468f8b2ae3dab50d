"""Registry and approval commands: models, register, alias, promote, rollback, approve, pipelines, events.

Each command is one call of the Python API (named in its help). Exit codes:
0 done, 1 gate refused (or a concurrent change), 2 usage or input error.
"""

from __future__ import annotations

import click

from . import Group, cli
from .output import echo, print_frame, print_json

FORMATS = click.Choice(["table", "json", "csv"])


def _fmt_option(f):
    return click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)(f)


@cli.group("models", invoke_without_command=True)
@_fmt_option
@click.pass_context
def models_cmd(ctx: click.Context, fmt: str) -> None:
    """List models with their number of versions and aliases.

    In Python: nbtrack.models()
    """
    if ctx.invoked_subcommand is None:
        from ..registry.models import models

        print_frame(models(), fmt, title="models")


@models_cmd.command("show")
@click.argument("name")
@_fmt_option
def models_show(name: str, fmt: str) -> None:
    """Show the versions of model NAME (newest first) with aliases and metrics.

    In Python: nbtrack.model_versions(name)
    """
    from ..registry.models import model_versions

    df = model_versions(name)
    if fmt == "table" and "run" in df:
        df = df.assign(run=df["run"].str[:10]).drop(columns=["class", "description"], errors="ignore")
    print_frame(df, fmt, title=f"model {name}")


def _name_first(first: str, second: str | None, old_name: str | None, usage: str) -> tuple[str, str]:
    """``NAME THING`` positionally, or the old ``THING --name NAME`` spelling (hidden, still accepted)."""
    if old_name is not None:
        if second is not None:
            raise click.UsageError(f"give the name once: {usage}")
        return old_name, first
    if second is None:
        raise click.UsageError(f"missing argument: {usage}")
    return first, second


@cli.command()
@click.argument("name")
@click.argument("run", required=False)
@click.option("--name", "old_name", hidden=True)  # `register RUN --name NAME`, the spelling before 0.2
@click.option("--variable", help="which model, when the run produced several")
@click.option("--description")
@click.option("--reason", help="why (goes to the audit log)")
def register(name: str, run: str | None, old_name: str | None, variable: str | None, description: str | None,
             reason: str | None) -> None:
    """Register the model produced by RUN as the next version of model NAME.

    In Python: nbtrack.register_model(name, run=RUN)
    """
    from ..registry.models import register_model

    name, run = _name_first(name, run, old_name, "nbtrack register NAME RUN")

    mv = register_model(name, run=run, variable=variable, description=description, reason=reason)
    echo(f"registered {mv.ref}" if mv.new else f"{mv.ref} already holds this model (nothing registered)")


@cli.group()
def alias() -> None:
    """Move or remove aliases (production, staging, any name) of model versions."""


@alias.command("set")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version")
@click.option("--expect", help="the version ALIAS must hold now ('none': unset); else nothing changes (exit 1)")
@click.option("--reason", help="why (goes to the audit log)")
def alias_set(name: str, alias_name: str, version: str, expect: str | None, reason: str | None) -> None:
    """Point NAME@ALIAS at VERSION.

    In Python: nbtrack.set_alias(name, alias, version, expected=..., reason=...)
    """
    from ..registry.aliases import ANY, set_alias

    expected = ANY if expect is None else (None if expect.lower() == "none" else expect)
    change = set_alias(name, alias_name, version, expected=expected, reason=reason)
    echo(f"{name}@{alias_name}: {_v(change.previous)} -> {_v(change.version)}")


@alias.command("delete")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.option("--reason", help="why (goes to the audit log)")
def alias_delete(name: str, alias_name: str, reason: str | None) -> None:
    """Remove NAME@ALIAS.

    In Python: nbtrack.delete_alias(name, alias, reason=...)
    """
    from ..registry.aliases import delete_alias

    change = delete_alias(name, alias_name, reason=reason)
    echo(f"{name}@{alias_name}: {_v(change.previous)} -> unset")


def _v(version) -> str:
    return "unset" if version is None else f"version {version}"


@cli.command()
@click.argument("name")
@click.argument("version")
@click.option("--to", "to", default="production", show_default=True, help="the alias to move")
@click.option("--gate", help="e.g. \"metrics.roc_auc >= 0.9\"")
@click.option("--vs", help="alias the candidate must be at least as good as (e.g. production)")
@click.option("--metric", help="metric for --vs")
@click.option("--lower-is-better", is_flag=True, default=None, help="for --vs: a lower METRIC is better")
@click.option("--reason", help="why (goes to the audit log)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def promote(name, version, to, gate, vs, metric, lower_is_better, reason, fmt) -> None:
    """Move NAME@TO to VERSION if it passes the gate; exit 1 if refused.

    In Python: nbtrack.promote(name, version, to=..., gate=..., vs=..., metric=...)
    """
    from dataclasses import asdict

    from ..registry.promote import promote as do_promote

    higher = None if lower_is_better is None else not lower_is_better
    result = do_promote(name, version, to=to, gate=gate, vs=vs, metric=metric, higher_is_better=higher,
                        reason=reason, raise_on_refusal=False)
    if fmt == "json":
        print_json(asdict(result))
    else:
        echo(result.summary(), err=not result.accepted)
    if not result.accepted:
        raise SystemExit(1)


@cli.command()
@click.argument("name")
@click.option("--alias", "alias_name", default="production", show_default=True)
@click.option("--reason", help="why (goes to the audit log)")
def rollback(name: str, alias_name: str, reason: str | None) -> None:
    """Move NAME@ALIAS back to the version it held before.

    In Python: nbtrack.rollback(name, alias=..., reason=...)
    """
    from ..registry.aliases import rollback as do_rollback

    change = do_rollback(name, alias_name, reason=reason)
    echo(f"{name}@{alias_name}: {_v(change.previous)} -> {_v(change.version)}")


@cli.command()
@click.argument("name")
@click.argument("notebook", required=False, type=click.Path(dir_okay=False))
@click.option("--name", "old_name", hidden=True)  # `approve NOTEBOOK --name NAME`, the spelling before 0.2
@click.option("--reason", help="why (goes to the audit log)")
def approve(name: str, notebook: str | None, old_name: str | None, reason: str | None) -> None:
    """Approve NOTEBOOK as the next version of pipeline NAME.

    The notebook needs a cell tagged `parameters`. In Python: nbtrack.approve(notebook, name=..., reason=...)
    """
    from ..registry.approve import approve as do_approve
    from ..registry.notebook import describe_parameter

    name, notebook = _name_first(name, notebook, old_name, "nbtrack approve NAME NOTEBOOK")

    p = do_approve(notebook, name, reason)
    params = ", ".join(describe_parameter(x) for x in p.parameters) or "none"
    pins = ", ".join(f"{k}@{v}" for k, v in sorted(p.pins.items())) or "none"
    echo(f"approved {p.ref}\n  parameters: {params}\n  pinned data: {pins}")


@cli.command()
@click.argument("name")
@click.argument("version", type=int)
@click.option("--reason", required=True, help="why (goes to the audit log)")
def revoke(name: str, version: int, reason: str) -> None:
    """Revoke approved version VERSION of pipeline NAME (it can no longer run).

    In Python: nbtrack.revoke(name, version, reason)
    """
    from ..registry.approve import revoke as do_revoke

    echo(f"revoked {do_revoke(name, version, reason).ref}")


class _Pipelines(Group):
    """``pipelines NAME`` (the spelling before ``pipelines show NAME``) still works."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "show", self.commands["show"], args
        return super().resolve_command(ctx, args)


@cli.group("pipelines", cls=_Pipelines, invoke_without_command=True, subcommand_metavar="[show NAME]")
@_fmt_option
@click.pass_context
def pipelines_group(ctx: click.Context, fmt: str) -> None:
    """List approved pipeline versions (and revoked ones), newest first.

    `nbtrack pipelines show NAME` shows one pipeline. In Python: nbtrack.pipelines()
    """
    if ctx.invoked_subcommand is None:
        pipelines_cmd(None, fmt)


@pipelines_group.command("show")
@click.argument("name")
@_fmt_option
def pipelines_show(name: str, fmt: str) -> None:
    """Show the versions of pipeline NAME and the parameters of its newest approved version.

    The table format lists each parameter's type, default (or the expression that
    computes it) and description. In Python: nbtrack.pipelines(name)
    """
    pipelines_cmd(name, fmt)


def pipelines_cmd(name: str | None, fmt: str) -> None:
    from ..registry.approve import pipelines

    frame = pipelines(name)
    print_frame(frame, fmt, title="pipelines")
    if name and fmt == "table" and not frame.empty:
        from ..errors import ApprovalRequired
        from ..pipeline.parameters import describe_schema, load_schema
        from ..registry.approve import get_pipeline

        try:
            p = get_pipeline(name)
        except ApprovalRequired:
            return  # every version is revoked: nothing can run
        echo(f"parameters of {p.ref}:\n" + describe_schema(load_schema(p.parameters)))


@cli.command("events")
@click.option("--target", help="a model or pipeline name, or NAME@ALIAS")
@click.option("--action", help="e.g. alias.promote, or a prefix such as alias.")
@click.option("--actor", help="only events by this user")
@click.option("--since", help="ISO date/time")
@click.option("--limit", "-n", type=int, default=50, show_default=True, help="the newest N (0 for all)")
@_fmt_option
def events_cmd(target, action, actor, since, limit, fmt) -> None:
    """Show the audit log (who did what, when, why), oldest first.

    `--format json` adds each event's prev_hash and hash (for a SIEM). In Python:
    nbtrack.events(target=..., action=...)
    """
    import json

    from ..query.events import events

    df = events(target=target, action=action, actor=actor, since=since, limit=limit or None, hashes=fmt == "json")
    if fmt != "json":
        df = df.assign(detail=df["detail"].map(lambda d: json.dumps(_short(d), default=str)))
    print_frame(df, fmt, title="events")


def _short(detail: dict) -> dict:
    skip = ("conditions", "notebook_oid", "oid")
    out = {k: v for k, v in detail.items() if v not in (None, [], {}) and k not in skip}
    failed = [c["detail"] for c in detail.get("conditions", []) if not c.get("passed")]
    if failed:
        out["failed"] = failed
    return out


@cli.group("audit")
def audit_group() -> None:
    """Check the audit log's integrity."""


@audit_group.command("verify")
@click.option("--expect-head", help="a head hash printed by an earlier verify: catches events deleted from the end")
def audit_verify(expect_head: str | None) -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first edited or deleted event.

    In Python: nbtrack.verify_audit()
    """
    from ..query.audit import verify_audit

    result = verify_audit(expect_head)
    echo(result.summary(), err=not result)
    if not result:
        raise SystemExit(1)


@cli.group("keys", invoke_without_command=True)
@click.pass_context
def keys_group(ctx: click.Context) -> None:
    """List approvers' public keys (for signed approvals), from the workspace's config.toml.

    `nbtrack keys add NAME PUBKEY` adds one.
    """
    if ctx.invoked_subcommand is None:
        from ..registry.signing import public_keys
        from ..workspace import get_workspace

        for name, key in sorted(public_keys(get_workspace()).items()):
            echo(f"{name}  {key}")


@keys_group.command("add")
@click.argument("name")
@click.argument("pubkey")
def keys_add(name: str, pubkey: str) -> None:
    """Record NAME's Ed25519 public key PUBKEY (64 hex characters) in the workspace's config.toml.

    Approvals signed by NAME verify against it. In Python: nbtrack.registry.signing.add_key(name, pubkey, ws)
    """
    from ..registry.signing import add_key
    from ..workspace import get_workspace

    path = add_key(name, pubkey, get_workspace(create=True))
    echo(f"added the public key of {name} to {path}")
