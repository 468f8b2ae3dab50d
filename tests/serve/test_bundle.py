"""Deployment bundles: hashes checked, Dockerfile linted, and the bundle served from a fresh venv
built from its own requirements.txt gives the registry model's exact predictions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import venv

import httpx
import numpy as np
import pytest

import nbtrack
from nbtrack.errors import NbtrackError
from servehelpers import free_port, pipeline, train_frame


@pytest.fixture
def trained(workspace):
    X, y = train_frame(400, seed=1)
    with nbtrack.track("train"):  # the run's environment fingerprint pins the requirements
        ds = nbtrack.snapshot(X, "churn-train")
        model = pipeline(0.5).fit(X, y)
        nbtrack.log_model(model, "churn", X=X, dataset_version=str(ds))
    nbtrack.set_alias("churn", "production", 1)
    return X, model


def test_bundle_files_requirements_and_check(trained, tmp_path):
    b = nbtrack.bundle("churn@production", tmp_path / "b")
    assert (b.model, b.version) == ("churn", 1)
    assert {"Dockerfile", "serve.py", "requirements.txt", "model/model.nbmodel", "model/model.json"} <= set(b.files)
    reqs = dict(line.split("==") for line in (tmp_path / "b" / "requirements.txt").read_text().split())
    import sklearn

    assert reqs["scikit-learn"] == sklearn.__version__
    assert {"numpy", "scipy", "skops", "pandas", "starlette", "uvicorn", "prometheus-client"} <= set(reqs)
    # only what the model and the server need, not the whole environment
    assert not {"jupyterlab", "papermill", "sqlalchemy", "matplotlib", "nbtrack", "ipykernel"} & set(reqs)
    assert nbtrack.check_bundle(tmp_path / "b").files == len(b.files)
    # the vendored runtime is complete: the server's modules import from the bundle alone
    probe = ("import sys; sys.path.insert(0, 'runtime'); import serve; app = serve.build_app(None); "
             "import nbtrack; assert nbtrack.__file__.startswith(sys.path[0]), nbtrack.__file__; "
             "assert not [m for m in sys.modules "
             "if m.startswith(('nbtrack.store', 'nbtrack.workspace', 'sqlalchemy'))]")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NBTRACK_URI")}
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path / "b", env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]

    (tmp_path / "b" / "model" / "model.nbmodel").write_bytes(b"tampered")
    (tmp_path / "b" / "extra.py").write_text("print('hi')")
    out = subprocess.run([sys.executable, "-m", "nbtrack", "bundle", "--check", str(tmp_path / "b")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "model/model.nbmodel changed" in out.stderr and "extra.py is not part of the bundle" in out.stderr
    with pytest.raises(NbtrackError, match="not empty"):
        nbtrack.bundle("churn@production", tmp_path / "b")


def test_dockerfile_lint(trained, tmp_path):
    from dockerfile_parse import DockerfileParser

    nbtrack.bundle("churn@1", tmp_path / "b")
    parser = DockerfileParser(str(tmp_path / "b" / "Dockerfile"))
    instructions = [i["instruction"] for i in parser.structure]
    assert parser.baseimage == f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
    assert "HEALTHCHECK" in instructions and "/health" in parser.content
    users = [i["value"] for i in parser.structure if i["instruction"] == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert instructions.index("USER") < instructions.index("CMD")
    # requirements are installed before the code is copied (a code change keeps the dependency layer)
    copies = [i["value"] for i in parser.structure if i["instruction"] == "COPY"]
    assert copies[0].startswith("requirements.txt")
    assert json.loads(parser.structure[-1]["value"])[:2] == ["python", "serve.py"]


@pytest.mark.slow
def test_bundle_serves_from_a_fresh_venv(trained, tmp_path):
    X, model = trained
    b = nbtrack.bundle("churn@production", tmp_path / "b")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = str(env_dir / "bin" / "python")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NBTRACK_URI", "VIRTUAL_ENV")}
    # --no-deps: requirements.txt must already hold every dependency; --no-compile saves half the time
    pip = subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "-r",
                          str(tmp_path / "b" / "requirements.txt")],
                         capture_output=True, text=True, env=clean, timeout=600)
    assert pip.returncode == 0, pip.stderr[-2000:]
    assert subprocess.run([py, "-c", "import nbtrack"], env=clean, capture_output=True).returncode != 0
    port = free_port()
    proc = subprocess.Popen([py, "serve.py", "--port", str(port)], cwd=b.path, env=clean,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            proc.kill()
            pytest.fail(proc.stdout.read())
        part = X.head(50).assign(plan=X["plan"].astype(str).head(50))
        r = httpx.post(url + "/v1/models/churn/predict?proba=true", json={"records": part.to_dict("records")})
        assert r.status_code == 200 and r.headers["X-Model-Version"] == "1"
        registry = nbtrack.load_model("churn@production")
        assert r.json()["predictions"] == registry.predict(X.head(50)).tolist()
        np.testing.assert_array_equal(np.array(r.json()["probabilities"]), registry.predict_proba(X.head(50)))
        bad = httpx.post(url + "/v1/models/churn/predict", json={"records": [{"age": "x"}]})
        assert bad.status_code == 422
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    refused = subprocess.run([py, "serve.py", "--host", "0.0.0.0"], cwd=b.path, env=clean, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode != 0 and "token" in refused.stderr
