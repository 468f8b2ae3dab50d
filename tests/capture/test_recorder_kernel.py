"""The cell recorder's hardening (issue 12) in real kernels: secrets never reach the store,
values it cannot convert are skipped with a note, the rest of the run is kept."""

from __future__ import annotations

from pathlib import Path

import nbtrack
from nbhelpers import outputs_text

LOAD = "%load_ext nbtrack\nimport os"


def _store_bytes(tmp_path: Path) -> bytes:
    """Every byte the workspace holds: meta.db (+ WAL) and every object."""
    return b"".join(p.read_bytes() for p in sorted((tmp_path / ".nbtrack").rglob("*")) if p.is_file())


def test_secrets_never_reach_the_store(run_notebook, tmp_path):
    cells = [
        LOAD,
        '%%track\nAPI_KEY = "SEKRIT-A1"',
        '%%track\nconfig = {"host": "db", "password": "SEKRIT-B1", "nested": {"api_key": "SEKRIT-B2"}}\nprint(config)',
        '%%track\nuser, password = "bob", "SEKRIT-C1"\nprint("login", user, password)',
        '%%track\npasswords = ["SEKRIT-D1"]\nsecret_token = "SEKRIT-D2" + "x"',
        '%%track\n!true\nsettings = {"api_key": "SEKRIT-E1"}\n%env GITHUB_TOKEN=SEKRIT-E2',
        '%%track\nconn_str = "postgresql://bob:SEKRIT-F1@db/x"\nheaders = {"Authorization": "Bearer SEKRIT-F2"}\n'
        'print(conn_str, headers)',
        '%%track\npw = os.environ["MY_DB_PASSWORD"]\nprint("using", os.environ["MY_DB_PASSWORD"])',
        '%%track\n%%time\npwd = "SEKRIT-H1"\nprint(pwd)',
        '%%track --tag dsn=postgresql://u:SEKRIT-I1@h/db\nprivate_key = """SEKRIT-I2\nline2"""',
        '%%track\nvec = {"token_pattern": r"(?u)\\b\\w+\\b", "tokenizer": None, "max_tokens": 5}\n'
        'opts = dict(token_pattern=r"\\w+", tokenizer=str.split)',
        '%%track\n# log in with password: SEKRIT-L1 (the title names the run)\nx = 1',
        '%%track\ndb_password = "SEKRIT-K1"\nraise ValueError("login failed with SEKRIT-K1")',
    ]
    nb = run_notebook(cells, allow_errors=True, env={"MY_DB_PASSWORD": "SEKRIT-G1"})
    # the cells themselves are unchanged: they show the secrets exactly as untracked
    assert "SEKRIT-C1" in outputs_text(nb.cells[3]) and "SEKRIT-G1" in outputs_text(nb.cells[7])
    assert "SEKRIT-H1" in outputs_text(nb.cells[8]) and "CPU times" in outputs_text(nb.cells[8])
    assert "ValueError: login failed with SEKRIT-K1" in outputs_text(nb.cells[12])
    assert not any("nbtrack:" in outputs_text(c) for c in nb.cells)

    runs = nbtrack.runs()
    assert len(runs) == len(cells) - 1
    assert "SEKRIT" not in " ".join(nbtrack.cells()["label"])  # history labels come from masked source
    assert b"SEKRIT" not in _store_bytes(tmp_path)  # not in meta.db, its WAL, or any object

    by_first_line = {nbtrack.get_run(i).source.split("\n")[0]: nbtrack.get_run(i) for i in runs.id}
    vec = next(r for line, r in by_first_line.items() if line.startswith("vec ="))
    assert vec.params["vec"] == {"token_pattern": "(?u)\\b\\w+\\b", "tokenizer": None, "max_tokens": 5}
    assert 'dict(token_pattern=r"\\w+", tokenizer=str.split)' in vec.source  # issue 20 item 9
    cfg = next(r for line, r in by_first_line.items() if line.startswith("config ="))
    assert cfg.params["config"] == {"host": "db", "password": "***", "nested": {"api_key": "***"}}
    assert cfg.stdout == "{'host': 'db', 'password': '***', 'nested': {'api_key': '***'}}\n"
    login = next(r for line, r in by_first_line.items() if line.startswith("user, password"))
    assert login.source == "user, password = \"bob\", '***'\nprint(\"login\", user, password)"
    assert login.stdout == "login bob ***\n"
    failed = next(r for r in by_first_line.values() if r.status == "failed")
    assert failed.error_message == "login failed with ***"


def test_unconvertible_values_are_skipped_with_a_note(run_notebook):
    weird = ("%%track weird\nclass BadFloat(int):\n    def __float__(self):\n        raise RuntimeError('no')\n\n"
             "class BadClass:\n    @property\n    def __class__(self):\n        raise RuntimeError('no class')\n\n"
             "acc_b = BadFloat(3)\nc = BadClass()\nlone = '\\ud800x'\nnothing = None\nscore = 0.25 * 2\nprint('ok')")
    nb = run_notebook([
        LOAD,
        "%%track mersenne\nscore = 2**1279 - 1\nacc = 0.5 + 0.25\nprint('done')",
        "%%track dh\nP = 0x" + "F" * 600 + "\nauc = 0.25 * 2\nprint('p')",
        "%%track longname\n" + "x" * 300 + " = 1.5\nlr = 0.7\nloss = lr / 2",
        weird,
    ])
    assert [outputs_text(c) for c in nb.cells[1:]] == ["done\n", "p\n", "", "ok\n"]  # no nbtrack line
    runs = {r["name"]: nbtrack.get_run(r.id) for _, r in nbtrack.runs().iterrows()}
    m = runs["mersenne"]
    assert m.status == "finished" and m.metrics == {"acc": 0.75} and m.stdout == "done\n"
    assert "metric 'score' skipped (OverflowError)" in m.tags["capture_notes"]
    dh = runs["dh"]
    assert dh.status == "finished" and dh.params["P"] == 16 ** 600 - 1 and dh.metrics == {"auc": 0.5}
    ln = runs["longname"]
    assert ln.status == "finished" and ln.params == {"lr": 0.7} and ln.metrics == {"loss": 0.35}
    assert "param 'xxxx" in ln.tags["capture_notes"]
    w = runs["weird"]
    assert w.status == "finished" and w.metrics == {"score": 0.5} and w.stdout == "ok\n"
    assert "metric 'acc_b' skipped (RuntimeError)" in w.tags["capture_notes"]
    assert "param 'lone' skipped" in w.tags["capture_notes"] and w.params == {"nothing": None}
