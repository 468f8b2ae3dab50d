"""Damage a workspace on purpose: shared by the fsck, CLI and fault-matrix tests."""

from __future__ import annotations

import os

from nbtrack.workspace import Workspace


def damage_db(ws: Workspace, damage: str) -> None:
    """Damage meta.db from another process (see INTERFACES.md: never a second connection here)."""
    import subprocess
    import sys

    from nbtrack import workspace as ws_mod

    db = os.path.join(ws.root, "meta.db")
    ws_mod.reset_cache()
    code = {
        "truncated": f"os.truncate({db!r}, os.path.getsize({db!r}) // 2)",
        "garbage": f"open({db!r}, 'r+b').write(os.urandom(8192))",
        "newer": f"c = sqlite3.connect({db!r}); c.execute(\"update alembic_version set version_num='0099'\"); "
                 "c.commit(); c.close()",
        "empty": f"open({db!r}, 'w').close()",
    }[damage]
    checkpoint = (f"import sqlite3; c = sqlite3.connect({db!r}); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); "
                  "c.close()\n")
    subprocess.run([sys.executable, "-c", "import os\n" + checkpoint + code], check=True)
    for suffix in ("-wal", "-shm"):
        if damage != "newer" and os.path.exists(db + suffix):
            os.unlink(db + suffix)
    ws_mod.use_workspace(ws.root)
