"""Protected aliases, the approver role and the four-eyes rule ([registry]/[roles] in config.toml)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from registry.regfixtures import trained_run

import nbtrack
from nbtrack.cli import cli
from nbtrack.errors import Forbidden

CONFIG = """
[registry]
protected_aliases = ["production"]
four_eyes = true
require_signed_approvals = false

[roles]
approver = ["alice", "bob"]
"""


@pytest.fixture
def governed(workspace, monkeypatch):
    (workspace.root and __import__("pathlib").Path(workspace.root) / "config.toml").write_text(CONFIG)
    for var in ("CI", "GITHUB_ACTOR", "CI_USER"):
        monkeypatch.delenv(var, raising=False)

    def as_user(name: str) -> None:
        monkeypatch.setenv("NBTRACK_USER", name)

    as_user("alice")
    nbtrack.register_model("churn", run=trained_run(0.01, 0.80)[0])  # alice trains version 1
    as_user("bob")
    nbtrack.register_model("churn", run=trained_run(1.0, 0.90, seed=1)[0])  # bob trains version 2
    return as_user


def refusals():
    ev = nbtrack.events(action="alias.refused")
    return [(r.actor, r.detail["attempted"], r.detail["rule"]) for r in ev.itertuples()]


def test_the_trainer_cannot_promote_another_approver_can(governed):
    governed("alice")
    with pytest.raises(Forbidden, match=r"four-eyes rule: alice trained churn@1 \(run .*\), so another approver"):
        nbtrack.promote("churn", 1, to="production", gate="metrics.auc >= 0.5", reason="ship it")
    with pytest.raises(nbtrack.errors.NotFound):
        nbtrack.get_model_version("churn@production")  # nothing moved
    governed("bob")
    assert nbtrack.promote("churn", 1, to="production", gate="metrics.auc >= 0.5", reason="reviewed").accepted
    assert nbtrack.get_model_version("churn@production").version == 1

    ev = nbtrack.events(target="churn@production")
    assert [(r.actor, r.action) for r in ev.itertuples()] == [("alice", "alias.refused"), ("bob", "alias.promote")]
    refused = ev.iloc[0]
    assert refused["reason"] == "ship it" and refused["detail"]["wanted"] == "churn@1"
    assert "four-eyes rule" in refused["detail"]["refused"]


def test_set_and_rollback_count_and_the_role_is_needed(governed):
    governed("carol")  # not an approver
    with pytest.raises(Forbidden, match="churn@production is protected: moving it needs the approver role, "
                                        "which carol does not have"):
        nbtrack.set_alias("churn", "production", 1)
    nbtrack.set_alias("churn", "staging", 1)  # not protected: anyone
    governed("bob")
    nbtrack.set_alias("churn", "production", 1)  # alice's version
    governed("alice")
    nbtrack.set_alias("churn", "production", 2)  # bob's version
    with pytest.raises(Forbidden, match="four-eyes rule: alice"):
        nbtrack.rollback("churn", "production")  # back to alice's own version 1
    governed("bob")
    assert nbtrack.rollback("churn", "production").version == 1
    governed("carol")
    with pytest.raises(Forbidden, match="approver role"):
        nbtrack.delete_alias("churn", "production")
    assert nbtrack.get_model_version("churn@production").version == 1
    assert refusals() == [("carol", "alias.set", "role"), ("alice", "alias.rollback", "four_eyes"),
                          ("carol", "alias.delete", "role")]


def test_without_four_eyes_an_approver_may_promote_their_own(governed, workspace):
    from pathlib import Path

    cfg = Path(workspace.root) / "config.toml"
    cfg.write_text(CONFIG.replace("four_eyes = true", "four_eyes = false"))
    governed("alice")
    nbtrack.set_alias("churn", "production", 1)
    assert nbtrack.get_model_version("churn@production").version == 1


def test_a_bad_config_is_one_clear_line(governed, workspace):
    from pathlib import Path

    Path(workspace.root, "config.toml").write_text('[registry]\nprotected_aliases = "production"\n')
    with pytest.raises(nbtrack.errors.InvalidInput, match=r"\[registry\] protected_aliases must be a list"):
        nbtrack.set_alias("churn", "production", 1)


def test_cli_refusal_exits_1_with_one_line(governed):
    governed("alice")
    res = CliRunner().invoke(cli, ["promote", "churn", "1", "--to", "production"])
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "four-eyes rule: alice trained churn@1" in lines[0]
    res = CliRunner().invoke(cli, ["alias", "set", "churn", "production", "2"])
    assert res.exit_code == 0, res.output  # version 2 is bob's: alice may move production to it
    assert nbtrack.get_model_version("churn@production").version == 2
    assert refusals() == [("alice", "alias.promote", "four_eyes")]


def test_the_approver_of_the_training_notebook_cannot_promote_its_model(governed, tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("C = 1.0")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "train.ipynb")
    governed("alice")
    p = nbtrack.approve(str(tmp_path / "train.ipynb"), "churn-train")  # alice approves the notebook
    governed("carol")  # the pipeline runs as carol (a CI user), its cells train the model
    with nbtrack.track("pipeline") as run:  # what `nbtrack run` records: the tagged parent run...
        run.set_tag("nbtrack.pipeline", p.name)
        run.set_tag("nbtrack.pipeline_version", p.version)
        child = trained_run(3.0, 0.95, seed=2)[0]  # ...and the notebook's tracked cells below it
    nbtrack.register_model("churn", run=child)
    governed("alice")
    with pytest.raises(Forbidden, match=r"four-eyes rule: alice approved the notebook churn-train@1 that trained "
                                        r"churn@3"):
        nbtrack.promote("churn", 3, to="production")
    governed("bob")
    assert nbtrack.promote("churn", 3, to="production").accepted
