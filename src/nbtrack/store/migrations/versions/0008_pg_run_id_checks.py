"""PostgreSQL: the run_id foreign keys of the hot child tables checked once per statement.

A run writes ~30 child rows (params, metrics, latest metrics, tags, artifacts) in one statement;
a foreign key checks each row on its own (a query per row). Here the five ``<table>_run_id_fkey``
constraints become triggers with the same guarantees, checked once per statement:

* child side: after an INSERT, the run ids of the inserted rows must exist in ``runs`` (each run
  row is locked ``FOR KEY SHARE``, as a foreign key does, so that no transaction deletes it
  before this one ends); an UPDATE that changes a row's ``run_id`` is checked the same way;
* parent side: a DELETE of runs (or an UPDATE of ``runs.id``) that leaves a child row without
  its run fails, and so does a TRUNCATE of ``runs`` alone while child rows exist; such a DELETE
  or UPDATE runs at READ COMMITTED (PostgreSQL's default), else it is refused (its check could
  miss a row committed after its snapshot). nbtrack never deletes runs.

A violation raises SQLSTATE 23503 (foreign_key_violation) with the foreign key's message, as
before. SQLite does not enforce foreign keys (nbtrack never turns ``PRAGMA foreign_keys`` on):
nothing changes there. ``schema.RUN_ID_CHECKED`` names the tables; the tests insert orphans and
delete referenced runs through every writer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("params", "metrics", "latest_metrics", "tags", "artifacts")  # = schema.RUN_ID_CHECKED


def _missing_run(when: str, rid: str) -> str:
    """plpgsql: raise a foreign key's error (23503) ``when`` true, for the run id ``rid``."""
    return f"""
    IF {when} THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_run_id_fkey"',
                TG_TABLE_NAME, TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME,
                  CONSTRAINT = TG_TABLE_NAME || '_run_id_fkey',
                  DETAIL = format('Key (run_id)=(%s) is not present in table "runs".', {rid});
    END IF;"""


_CHILD = f"""
CREATE FUNCTION nbtrack_run_id_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    first text;
    rid text;
BEGIN
    -- the usual statement writes rows of one run: one index probe
    SELECT run_id INTO first FROM new_rows WHERE run_id IS NOT NULL LIMIT 1;
    IF first IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM FROM runs WHERE id = first FOR KEY SHARE;
    IF NOT FOUND THEN
        rid := first;
    ELSIF EXISTS (SELECT FROM new_rows WHERE run_id <> first) THEN
        rid := NULL;
        FOR rid IN SELECT DISTINCT run_id FROM new_rows WHERE run_id <> first LOOP
            PERFORM FROM runs WHERE id = rid FOR KEY SHARE;
            EXIT WHEN NOT FOUND;
            rid := NULL;
        END LOOP;
    END IF;{_missing_run("rid IS NOT NULL", "rid")}
    RETURN NULL;
END $$
"""

_CHILD_UPDATE = f"""
CREATE FUNCTION nbtrack_run_id_check_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM runs WHERE id = NEW.run_id FOR KEY SHARE;{_missing_run("NOT FOUND", "NEW.run_id")}
    RETURN NULL;
END $$
"""


def _referenced(ids: str) -> str:
    """plpgsql: raise if a child row references one of the run ids selected by ``ids``. The
    check reads with a fresh snapshot (READ COMMITTED) and so sees every row committed before
    the run's row was locked by this delete; a REPEATABLE READ snapshot could miss one (a
    foreign key re-checks with a newer snapshot there): such a delete is refused."""
    out = [f"""
    IF current_setting('transaction_isolation') <> 'read committed' AND EXISTS ({ids}) THEN
        RAISE EXCEPTION 'runs can only be deleted (or their ids changed) at READ COMMITTED isolation'
            USING ERRCODE = 'serialization_failure', TABLE = 'runs',
                  HINT = 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED, then retry.';
    END IF;"""]
    for t in TABLES:
        out.append(f"""
    SELECT o.id INTO rid FROM ({ids}) o WHERE EXISTS (SELECT FROM {t} c WHERE c.run_id = o.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION
            'update or delete on table "runs" violates foreign key constraint "{t}_run_id_fkey" on table "{t}"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'runs', CONSTRAINT = '{t}_run_id_fkey',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "{t}".', rid);
    END IF;""")
    return "".join(out)


_PARENT_DELETE = f"""
CREATE FUNCTION nbtrack_runs_delete_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rid text;
BEGIN{_referenced("SELECT id FROM old_rows")}
    RETURN NULL;
END $$
"""

_PARENT_UPDATE = f"""
CREATE FUNCTION nbtrack_runs_id_update_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rid text;
BEGIN{_referenced("SELECT OLD.id AS id")}
    RETURN NULL;
END $$
"""

_PARENT_TRUNCATE = """
CREATE FUNCTION nbtrack_runs_truncate_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF """ + " OR ".join(f"EXISTS (SELECT FROM {t})" for t in TABLES) + """ THEN
        RAISE EXCEPTION 'cannot truncate a table referenced in a foreign key constraint'
            USING ERRCODE = 'feature_not_supported', TABLE = 'runs',
                  HINT = 'Truncate the tables that reference runs in the same command.';
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: foreign keys are declared, not enforced (as before)
    for sql in (_CHILD, _CHILD_UPDATE, _PARENT_DELETE, _PARENT_UPDATE, _PARENT_TRUNCATE):
        op.execute(sql)
    for t in TABLES:
        op.execute(f"ALTER TABLE {t} DROP CONSTRAINT {t}_run_id_fkey")
        op.execute(f"CREATE TRIGGER {t}_run_id_insert AFTER INSERT ON {t} REFERENCING NEW TABLE AS new_rows "
                   "FOR EACH STATEMENT EXECUTE FUNCTION nbtrack_run_id_check()")
        op.execute(f"CREATE TRIGGER {t}_run_id_update AFTER UPDATE OF run_id ON {t} FOR EACH ROW "
                   "WHEN (OLD.run_id IS DISTINCT FROM NEW.run_id) EXECUTE FUNCTION nbtrack_run_id_check_row()")
    op.execute("CREATE TRIGGER runs_id_delete AFTER DELETE ON runs REFERENCING OLD TABLE AS old_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION nbtrack_runs_delete_check()")
    op.execute("CREATE TRIGGER runs_id_update AFTER UPDATE OF id ON runs FOR EACH ROW "
               "WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION nbtrack_runs_id_update_check()")
    op.execute("CREATE TRIGGER runs_id_truncate AFTER TRUNCATE ON runs "
               "FOR EACH STATEMENT EXECUTE FUNCTION nbtrack_runs_truncate_check()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in ("runs_id_delete", "runs_id_update", "runs_id_truncate"):
        op.execute(f"DROP TRIGGER {name} ON runs")
    for t in TABLES:
        op.execute(f"DROP TRIGGER {t}_run_id_insert ON {t}")
        op.execute(f"DROP TRIGGER {t}_run_id_update ON {t}")
        op.create_foreign_key(f"{t}_run_id_fkey", t, "runs", ["run_id"], ["id"])
    for fn in ("nbtrack_run_id_check", "nbtrack_run_id_check_row", "nbtrack_runs_delete_check",
               "nbtrack_runs_id_update_check", "nbtrack_runs_truncate_check"):
        op.execute(f"DROP FUNCTION {fn}()")
