"""The SQL backend (the real ``nbtrack.runs(filter=...)`` path on SQLite) and the Python
backend (``Expr.evaluate`` on each run's values) keep exactly the same runs."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import nbtrack
from nbtrack.capture.run import set_experiment
from nbtrack.query.filters import parse_filter

NUMS = [-1, 0, 0.5, 1, 2, 2.5]
TEXTS = ["", "a", "A", "ab", "b", "rf", "RF-1", "x_y", "1", "0.5", "True"]
NUMBER_FIELDS = ["metrics.a", "metrics.b", "duration", "cell_version"]
TEXT_FIELDS = ["name", "status", "tags.t", "params.q", "kind"]
ANY_FIELDS = ["params.p", "params.q"]
_counter = itertools.count()

num = st.sampled_from(NUMS)
text = st.sampled_from(TEXTS)


def _lit(v) -> str:
    return repr(v)


@st.composite
def leaf(draw) -> str:
    kind = draw(st.sampled_from(["number", "text", "any", "contains", "none", "in", "fields"]))
    if kind == "number":
        f = draw(st.sampled_from(NUMBER_FIELDS))
        v = draw(num)
        if f == "cell_version":
            v = int(v)
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return draw(st.sampled_from([f"{f} {op} {_lit(v)}", f"{_lit(v)} {op} {f}"]))
    if kind == "text":
        f = draw(st.sampled_from(TEXT_FIELDS))
        op = draw(st.sampled_from(["==", "!=", "<", ">="]))
        return f"{f} {op} {_lit(draw(text))}"
    if kind == "any":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"params.p {op} {_lit(draw(st.one_of(num, text, st.booleans())))}"
    if kind == "contains":
        f = draw(st.sampled_from(TEXT_FIELDS + ANY_FIELDS + ["id"]))
        return f"{_lit(draw(text))} {draw(st.sampled_from(['in', 'not in']))} {f}"
    if kind == "none":
        f = draw(st.sampled_from(NUMBER_FIELDS + TEXT_FIELDS + ANY_FIELDS))
        return f"{f} {draw(st.sampled_from(['is', 'is not']))} None"
    if kind == "in":
        f = draw(st.sampled_from(["metrics.a", "params.p", "name", "tags.t"]))
        pool = num if f in ("metrics.a",) else (text if f in ("name", "tags.t") else st.sampled_from([0, 1, 2.5]))
        if f == "params.p":
            pool = draw(st.sampled_from([st.sampled_from([0, 1, 2.5]), text]))
        items = draw(st.lists(pool, max_size=3, unique=True))
        return f"{f} {draw(st.sampled_from(['in', 'not in']))} {items!r}"
    op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
    return f"metrics.a {op} metrics.b"


def expressions(depth: int = 3):
    return st.recursive(leaf(), lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        inner.map(lambda e: f"not ({e})"),
    ), max_leaves=6)


run_values = st.fixed_dictionaries({
    "a": st.one_of(st.none(), num), "b": st.one_of(st.none(), num),
    "p": st.one_of(st.just("missing"), st.none(), num, text, st.booleans()),
    "q": st.one_of(st.just("missing"), text),
    "t": st.one_of(st.none(), text), "name": text, "fail": st.booleans(),
})


def _record(experiment: str, runs: list[dict]) -> list[dict]:
    set_experiment(experiment)
    try:
        for r in runs:
            params = {k: r[k] for k in ("p", "q") if not (isinstance(r[k], str) and r[k] == "missing")}
            try:
                with nbtrack.track(r["name"], params=params, tags={"t": r["t"]} if r["t"] is not None else None) as run:
                    for k in ("a", "b"):
                        if r[k] is not None:
                            run.log_metric(k, r[k])
                    if r["fail"]:
                        raise KeyError("x")
            except KeyError:
                pass
    finally:
        set_experiment(None)
    values = []
    for rid in nbtrack.runs(experiment=experiment)["id"]:
        run = nbtrack.get_run(rid)
        values.append({"id": run.id, "name": run.name, "kind": run.kind, "status": run.status,
                       "duration": run.duration, "cell_version": run.cell_version,
                       "metrics": run.metrics, "params": run.params, "tags": run.tags})
    return values


@pytest.fixture(scope="module")
def shared_workspace(tmp_path_factory):
    import os

    from nbtrack import workspace as ws_mod

    root = tmp_path_factory.mktemp("agree")
    old = os.environ.get("NBTRACK_URI")
    os.environ["NBTRACK_URI"] = str(root / ".nbtrack")
    ws_mod.reset_cache()
    ws_mod.init(root)
    yield root
    ws_mod.reset_cache()
    if old is None:
        os.environ.pop("NBTRACK_URI", None)
    else:
        os.environ["NBTRACK_URI"] = old


def _agree(runs, exprs) -> None:
    experiment = f"e{next(_counter)}"
    values = _record(experiment, runs)
    for text in exprs:
        expr = parse_filter(text)
        want = sorted(v["id"] for v in values if expr.matches(v))
        got = sorted(nbtrack.runs(experiment=experiment, filter=text)["id"])
        assert got == want, (text, values)
        assert nbtrack.count_runs(text, experiment=experiment) == len(want)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(runs=st.lists(run_values, min_size=1, max_size=5), exprs=st.lists(expressions(), min_size=1, max_size=4))
def test_sql_and_python_backends_agree(shared_workspace, runs, exprs):
    _agree(runs, exprs)


@pytest.mark.postgres
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(runs=st.lists(run_values, min_size=1, max_size=4), exprs=st.lists(expressions(), min_size=1, max_size=4))
def test_backends_agree_on_postgresql(pg_workspace, runs, exprs):
    _agree(runs, exprs)
