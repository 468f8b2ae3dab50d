"""Monitoring commands: ``nbtrack monitor add/list/rm/check``, ``drift``, ``validate``.

Each command is one call of the Python API (named in its help). Exit codes:
0 done (or alerts without --fail-on-alert), 1 alerts with --fail-on-alert or data
failing its contract, 2 usage or input error.
"""

from __future__ import annotations

import json

import click

from . import cli
from .output import echo, print_frame

FORMATS = click.Choice(["table", "json", "csv"])


@cli.group("monitor")
def monitor() -> None:
    """Alert rules on models: drift, metric conditions, alerts, retraining.

    In Python: nbtrack.drift(...), nbtrack.validate(...), nbtrack.evaluate(...)
    """


@monitor.command("add")
@click.argument("model")
@click.option("--psi", type=float, help="alert when a feature's PSI is at least this (default 0.2)")
@click.option("--ks-p", "ks_p", type=float, help="alert when a numeric feature's KS p-value is below (default 0.01)")
@click.option("--chi2-p", "chi2_p", type=float, help="alert when a categorical chi-square p-value is below (0.01)")
@click.option("--js", type=float, help="alert when a categorical Jensen-Shannon distance is at least this (0.1)")
@click.option("--missing", type=float, help="alert when a missing rate changes by more than this (0.05)")
@click.option("--metric", "metrics", multiple=True,
              help="alert when this holds, e.g. \"auc < 0.85\" or \"drift.share >= 0.3\" (repeatable)")
@click.option("--feature", "features", multiple=True, help="only these features (repeatable)")
@click.option("--current", help="dataset to compare (default MODEL.predictions@latest)")
@click.option("--sink", "sinks", multiple=True, help="log, jsonl:PATH or an http(s):// webhook (repeatable)")
@click.option("--retrain", help="approved pipeline to run on alert")
@click.option("--promote-to", help="alias to promote the retrained version to")
@click.option("--gate-vs", help="ALIAS:METRIC the retrained run must not be worse than, e.g. production:auc")
@click.option("--gate", "gates", multiple=True, help="a gate on the retraining run, e.g. \"auc >= 0.8\"")
@click.option("-p", "--parameter", "params", nargs=2, multiple=True, metavar="NAME VALUE",
              help="a parameter of the retraining pipeline, parsed like papermill -p (repeatable)")
def add(model: str, psi, ks_p, chi2_p, js, missing, metrics, features, current, sinks, retrain, promote_to, gate_vs,
        gates, params) -> None:
    """Add an alert rule on MODEL (e.g. churn@production).

    In Python: nbtrack.monitor.rules.add_rule(Rule(model, ...))
    """
    from ..monitor.rules import Rule, add_rule

    given = {"psi": psi, "ks_p": ks_p, "chi2_p": chi2_p, "js": js, "missing": missing}
    kv = dict(params)
    rule = add_rule(Rule(model, {k: v for k, v in given.items() if v is not None}, list(metrics),
                         list(sinks) or ["log"], list(features) or None, current, retrain, promote_to, gate_vs,
                         list(gates), kv))
    echo(f"rule {rule.id}: {rule.model}: {rule.describe()}")


@monitor.command("list")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def list_cmd(fmt: str) -> None:
    """List the alert rules.

    In Python: nbtrack.monitor.rules.rules_frame()
    """
    from ..monitor.rules import rules_frame

    print_frame(rules_frame(), fmt, title="monitor rules")


@monitor.command("rm")
@click.argument("rule_id", type=int)
def rm(rule_id: int) -> None:
    """Remove alert rule RULE_ID.

    In Python: nbtrack.monitor.rules.remove_rule(RULE_ID)
    """
    from ..monitor.rules import remove_rule

    remove_rule(rule_id)
    echo(f"removed rule {rule_id}")


@monitor.command("check")
@click.option("--rule", "rule_ids", type=int, multiple=True, help="only these rules (repeatable)")
@click.option("--current", help="compare this dataset version instead of MODEL.predictions@latest")
@click.option("--no-retrain", is_flag=True, help="alert only; do not run retraining pipelines")
@click.option("--fail-on-alert", is_flag=True, help="exit 1 when any rule alerts (for cron and CI)")
@click.option("--json", "as_json", is_flag=True, help="print the outcome as JSON")
@click.pass_context
def check_cmd(ctx: click.Context, rule_ids, current, no_retrain: bool, fail_on_alert: bool, as_json: bool) -> None:
    """Check every rule: drift, metric conditions, alerts to sinks, retraining.

    In Python: nbtrack.monitor.check.check()
    """
    from ..monitor.check import check

    results = check(list(rule_ids) or None, current=current, retrain=not no_retrain)
    if as_json:
        echo(json.dumps([{"rule": r.rule.id, "model": r.model_version, "current": r.current,
                                "alerts": r.alerts, "skipped": r.skipped, "run": r.run_id, "event": r.event_id,
                                "retrain": r.retraining.__dict__ if r.retraining else None} for r in results],
                              indent=2, default=str))
    else:
        for r in results:
            echo(r.summary())
        if not results:
            echo("no monitor rules; add one with `nbtrack monitor add MODEL@ALIAS`")
    if fail_on_alert and any(r.alerted for r in results):
        ctx.exit(1)


@monitor.command("drift")
@click.argument("reference")
@click.argument("current")
@click.option("--feature", "features", multiple=True)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--fail-on-drift", is_flag=True, help="exit 1 when a feature drifted")
@click.pass_context
def drift_cmd(ctx: click.Context, reference: str, current: str, features, fmt: str, fail_on_drift: bool) -> None:
    """Drift of dataset CURRENT against REFERENCE (a model or dataset version).

    In Python: nbtrack.drift(REFERENCE, CURRENT)
    """
    from ..monitor.drift import drift

    report = drift(reference, current, list(features) or None)
    df = report.to_frame().reset_index()
    df["reasons"] = df["reasons"].map("; ".join)
    df["unseen"] = df["unseen"].map(lambda u: ", ".join(map(str, u)))
    if fmt == "table":
        echo(report.summary().splitlines()[0])
        df = df[["feature", "kind", "drifted", "psi", "ks_p", "chi2_p", "js", "missing_change", "reasons"]]
    print_frame(df, fmt, title="drift")
    if fail_on_drift and report.drifted:
        ctx.exit(1)


@monitor.command("validate")
@click.argument("data")
@click.argument("against")
def validate_cmd(data: str, against: str) -> None:
    """Check dataset DATA against a contract (a stored contract, model or dataset reference).

    Exits 1 listing every failing column and check. In Python: nbtrack.validate(DATA, AGAINST)
    """
    from ..monitor.validate import validate

    result = validate(data, against)
    if result.ok:
        echo(f"{data}: {result.n_rows} rows pass {result.contract_ref}")
        return
    result.raise_for_failures()
