"""The first run of a script computes its environment fingerprint while SQLAlchemy and the
store are imported (a thread started when ``nbtrack.track`` & co are first looked up)."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = r'''
import sys
import nbtrack
from nbtrack.capture import env
assert env._thread is None and "nbtrack.capture.run" not in sys.modules  # `import nbtrack` starts nothing
track = nbtrack.track
print("STARTED", env._thread is not None)
with track("early", params={"C": 1}) as run:
    nbtrack.log_metric("acc", 0.5)
fp = nbtrack.get_run(run.id).env
print("ENV", fp["python"] == sys.version.split()[0], sorted(fp["packages"]) == sorted(env.distributions()))
'''


def test_fingerprint_starts_before_the_store_is_imported(workspace, tmp_path):
    out = subprocess.run([sys.executable, "-c", CODE], cwd=tmp_path, env=dict(os.environ), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "STARTED True" in out.stdout and "ENV True True" in out.stdout, out.stdout
