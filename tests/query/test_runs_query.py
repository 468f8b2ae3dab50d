from __future__ import annotations

import pytest

import nbtrack
from nbtrack.errors import InvalidInput, NotFound


@pytest.fixture
def populated(workspace):
    ids = {}
    for model, acc, depth in [("rf", 0.95, 5), ("rf", 0.85, 3), ("svm", 0.92, None), ("lr", 0.7, 1)]:
        with nbtrack.track(f"{model}-{acc}", params={"model": model, "depth": depth}) as run:
            run.log_metric("acc", acc)
            run.log_metric("loss", 1 - acc)
            run.set_tag("family", "trees" if model == "rf" else "other")
            ids[(model, acc)] = run.id
    with nbtrack.track("broken") as run:
        run.log_metric("val/acc", 0.1)
    return ids


def q(expr, **kw):
    return sorted(nbtrack.runs(filter=expr, **kw)["name"].tolist())


def test_filter_metrics_params_tags(populated):
    assert q("metrics.acc > 0.9") == ["rf-0.95", "svm-0.92"]
    assert q("metrics.acc > 0.9 and params.model == 'rf'") == ["rf-0.95"]
    assert q("params.model in ['svm', 'lr']") == ["lr-0.7", "svm-0.92"]
    assert q("params.depth >= 3") == ["rf-0.85", "rf-0.95"]
    assert q("params.depth is None and metrics.acc is not None") == ["svm-0.92"]
    assert q("tags.family == 'trees' or metrics.loss < 0.1") == ["rf-0.85", "rf-0.95", "svm-0.92"]
    assert q("not metrics.acc > 0.8 and metrics.acc < 1") == ["lr-0.7"]
    assert q("0.8 < metrics.acc < 0.93") == ["rf-0.85", "svm-0.92"]
    assert q("metrics['val/acc'] == 0.1") == ["broken"]
    assert q("status == 'finished' and name == 'broken'") == ["broken"]
    assert q("started > '2000-01-01'") == sorted(["rf-0.95", "rf-0.85", "svm-0.92", "lr-0.7", "broken"])


def test_substring_match_on_text_fields(populated):
    assert q("'RF' in name") == ["rf-0.85", "rf-0.95"]  # any case
    assert q("'0.9' in name and 'rf' not in name") == ["svm-0.92"]
    assert q("'v' in params.model") == ["svm-0.92"]
    assert q("'%' in name") == [] and q("'_' in name") == []  # LIKE wildcards are literal
    assert q("'re' in tags.family") == ["rf-0.85", "rf-0.95"]
    with pytest.raises(InvalidInput, match="text inside a text field"):
        nbtrack.runs(filter="'1' in metrics.acc")
    with pytest.raises(InvalidInput, match="text inside a text field"):
        nbtrack.runs(filter="1 in name")


def test_filter_is_compiled_to_sql_not_evaluated():
    from sqlalchemy.dialects import sqlite

    from nbtrack.query.filters import compile_filter

    c = compile_filter("metrics.acc > 0.9 and params.model == 'rf'")
    sql = str(c.where.compile(dialect=sqlite.dialect()))
    assert "value >" in sql and "m0" in sql and "p1" in sql


@pytest.mark.parametrize("bad", [
    "metrics.acc >", "__import__('os').system('true')", "acc > 1", "metrics.acc > params.depth",
    "metrics.acc + 1 > 2", "params.model == model",
])
def test_bad_filters_are_clear_errors(populated, bad):
    with pytest.raises(InvalidInput) as e:
        nbtrack.runs(filter=bad)
    assert "filter" in str(e.value) or "field" in str(e.value)


def test_order_limit_offset_and_columns(populated):
    df = nbtrack.runs(order_by="metrics.acc desc", limit=2)
    assert df["name"].tolist() == ["rf-0.95", "svm-0.92"]
    assert nbtrack.runs(order_by="metrics.acc desc", limit=2, offset=1)["name"].tolist() == ["svm-0.92", "rf-0.85"]
    assert nbtrack.runs(order_by="-metrics.loss", limit=1)["name"].tolist() == ["lr-0.7"]
    assert list(df.columns[:10]) == ["id", "name", "experiment", "kind", "status", "parent", "notebook",
                                     "cell_version", "started", "duration"]
    assert {"params.model", "params.depth", "metrics.acc", "metrics.loss"} <= set(df.columns)
    assert nbtrack.count_runs("metrics.acc > 0.9") == 2


def test_last_value_of_a_metric_and_history(workspace):
    with nbtrack.track("curve") as run:
        for v in (0.5, 0.3, 0.2):
            run.log_metric("loss", v)
        run.log_metric("loss", 0.9, step=0)  # a late write to an old step does not become "last"
    r = nbtrack.get_run(run.id)
    assert r.metrics == {"loss": 0.2}
    assert r.metric_history("loss")["value"].tolist() == [0.5, 0.9, 0.3, 0.2]


def test_get_run_by_prefix_and_errors(populated):
    rid = populated[("svm", 0.92)]
    assert nbtrack.get_run(rid[:8]).id == rid
    with pytest.raises(NotFound, match="nbtrack runs"):
        nbtrack.get_run("ffffffffff")
    with pytest.raises(NotFound, match="at least 4"):
        nbtrack.get_run("ab")


def test_failed_script_run_and_nesting(workspace):
    with pytest.raises(RuntimeError):
        with nbtrack.track("outer") as outer:
            with nbtrack.track("inner") as inner:
                nbtrack.log_metric("x", 1)
            raise RuntimeError("oops")
    o, i = nbtrack.get_run(outer.id), nbtrack.get_run(inner.id)
    assert (o.status, o.error_type, o.error_message) == ("failed", "RuntimeError", "oops")
    assert i.parent_id == o.id and i.metrics == {"x": 1.0}
    assert nbtrack.runs(parent=o.id)["name"].tolist() == ["inner"]


def test_decorator_and_experiments(workspace):
    nbtrack.set_experiment("exp-a")

    @nbtrack.track()
    def train(c):
        nbtrack.log_metric("score", c * 2)
        return c

    try:
        assert train(3) == 3
    finally:
        nbtrack.set_experiment(None)
    df = nbtrack.runs(experiment="exp-a")
    assert df["name"].tolist() == ["train"] and df["metrics.score"].tolist() == [6]


def test_no_workspace_is_a_clear_error(tmp_path, monkeypatch):
    from nbtrack import workspace as ws_mod

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBTRACK_URI", raising=False)
    ws_mod.reset_cache()
    with pytest.raises(NotFound, match="nbtrack init"):
        nbtrack.runs()
    assert not (tmp_path / ".nbtrack").exists()


def test_workspace_found_upward_and_created_on_first_write(tmp_path, monkeypatch):
    from nbtrack import workspace as ws_mod

    monkeypatch.delenv("NBTRACK_URI", raising=False)
    ws_mod.reset_cache()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with nbtrack.track("first"):
        pass
    assert (tmp_path / ".nbtrack" / "meta.db").is_file()
    monkeypatch.chdir(deep)
    ws_mod.reset_cache()
    assert nbtrack.runs()["name"].tolist() == ["first"]


def test_order_by_a_metric_the_filter_requires_needs_no_nulls_last(populated):
    """A metric compared with a value in a top-level `and` is never NULL in the result: the order is
    plain (PostgreSQL then walks the (key, value) index), the result the same; otherwise NULLs last."""
    from sqlalchemy.dialects import postgresql

    from nbtrack.query.filters import compile_filter, compile_order

    def order_sql(flt):
        c = compile_filter(flt)
        return [str(o.compile(dialect=postgresql.dialect())) for o in compile_order("metrics.acc desc", c)]

    assert order_sql("metrics.acc > 0.5 and params.model == 'rf'")[0] == "m0.value DESC"
    assert order_sql("metrics.acc > 0.5 or params.model == 'rf'")[0].endswith("NULLS LAST")
    assert order_sql("metrics.acc is None or status == 'finished'")[0].endswith("NULLS LAST")
    assert order_sql(None)[0].endswith("NULLS LAST")
    names = nbtrack.runs(filter="metrics.acc > 0.8", order_by="metrics.acc desc")["name"].tolist()
    assert names == ["rf-0.95", "svm-0.92", "rf-0.85"]
    names = nbtrack.runs(filter="status == 'finished'", order_by="metrics.acc desc")["name"].tolist()
    assert names == ["rf-0.95", "svm-0.92", "rf-0.85", "lr-0.7", "broken"]  # no acc: last
    names = nbtrack.runs(filter="metrics.acc < 0.9", order_by="metrics.acc")["name"].tolist()
    assert names == ["lr-0.7", "rf-0.85"]
