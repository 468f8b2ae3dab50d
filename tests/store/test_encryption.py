"""Encryption at rest: nothing readable in the objects, exact round trips, key errors, tampering."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import nbtrack
from nbhelpers import outputs_text
from nbtrack import workspace as ws_mod
from nbtrack.errors import CorruptObject
from nbtrack.store import crypto
from nbtrack.store.objects import ObjectStore, hash_bytes

KEY = "5a" * 32
OTHER = "c3" * 32


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """An encrypted workspace (overrides conftest's, so ``run_notebook`` uses it too)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRACK_URI", str(tmp_path / ".nbtrack"))
    monkeypatch.setenv("NBTRACK_KEY", KEY)
    monkeypatch.delenv("NBTRACK_KEY_FILE", raising=False)
    monkeypatch.delenv("NBTRACK_PARENT_RUN", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    ws_mod.reset_cache()
    ws = ws_mod.init(tmp_path, encrypt=True)
    assert ws.objects.encrypted
    yield ws
    ws_mod.reset_cache()


def _all_bytes(folder: Path, skip_db: bool = True) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not (skip_db and p.name.startswith("meta.db"))}


def test_tracked_cell_leaves_no_plaintext_in_objects(run_notebook, workspace, tmp_path):
    cells = [
        "%load_ext nbtrack",
        "import pandas as pd\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "frame = pd.DataFrame({'who': ['ZEBRA_PLAINTEXT_%d' % i for i in range(300)], 'x': range(300)})",
        "%%track enc\n"
        "# SOURCE_PLAINTEXT_MARKER\n"
        "print('STDOUT_PLAINTEXT_MARKER')\n"
        "labels = ['MODEL_LABEL_A' if i % 2 else 'MODEL_LABEL_B' for i in range(300)]\n"
        "model = LogisticRegression().fit(frame[['x']], labels)\n"
        "acc = 0.5",
    ]
    nb = run_notebook(cells)
    out = outputs_text(nb.cells[-1])
    assert "STDOUT_PLAINTEXT_MARKER" in out and "nbtrack" not in out, out
    ws_mod.reset_cache()
    ws = ws_mod.get_workspace()
    assert len(nbtrack.runs()) == 1
    snap = nbtrack.load("frame")  # the DataFrame the cell read was snapshot
    assert snap["who"].iloc[7] == "ZEBRA_PLAINTEXT_7"
    files = _all_bytes(tmp_path / ".nbtrack" / "objects")
    assert len(files) > 4
    for needle in (b"ZEBRA_PLAINTEXT", b"SOURCE_PLAINTEXT_MARKER", b"STDOUT_PLAINTEXT_MARKER", b"MODEL_LABEL_A",
                   b"LogisticRegression"):
        hits = [p for p, data in files.items() if needle in data]
        assert not hits, (needle, hits)
    # every object authenticates and none is named by its plain hash
    for oid in ws.objects:
        data = ws.objects.get(oid)
        assert hash_bytes(data) != oid and ws.objects.name(data) == oid


def test_round_trip_and_dedup(workspace):
    df = pd.DataFrame({"a": range(5000), "s": [f"v{i}" for i in range(5000)]})
    with nbtrack.track("r"):
        v1 = nbtrack.snapshot(df, "d")
        oid = nbtrack.log_artifact(b"ARTIFACT-BYTES\x00\x01", name="blob.bin")
    n = sum(1 for _ in workspace.objects)
    v2 = nbtrack.snapshot(df.copy(), "d")  # same content: same version, nothing new stored
    assert v2.version == v1.version and sum(1 for _ in workspace.objects) == n
    ws_mod.reset_cache()  # a fresh process: the disk cache entry is keyed, and still found
    assert nbtrack.load("d").equals(df)
    assert ws_mod.get_workspace().objects.get(oid) == b"ARTIFACT-BYTES\x00\x01"
    from nbtrack.snapshot.datasets import fingerprint

    entries = os.listdir(Path(workspace.root) / "cache" / "frames")
    assert entries and fingerprint(df) not in entries  # the disk cache is named by keyed hashes


def test_wrong_or_missing_key_is_one_line_and_writes_nothing(workspace, tmp_path, monkeypatch):
    with nbtrack.track("r"):
        nbtrack.log_metric("m", 1.0)
    ws_mod.reset_cache()  # closed: the database files settle
    before = {p: (os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in _all_bytes(tmp_path / ".nbtrack", False)}
    for env in ({"NBTRACK_KEY": OTHER}, {"NBTRACK_KEY": "xyz"}, {}):
        ws_mod.reset_cache()
        monkeypatch.delenv("NBTRACK_KEY", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        with pytest.raises(crypto.InvalidKey) as e:
            with nbtrack.track("should-not-exist"):
                nbtrack.log_metric("m", 2.0)
        assert "key" in str(e.value) and "\n" not in str(e.value)
    after = {p: (os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in _all_bytes(tmp_path / ".nbtrack", False)}
    assert after == before


def test_cli_wrong_key_exit_2(workspace, monkeypatch):
    from click.testing import CliRunner

    from nbtrack.cli import cli

    ws_mod.reset_cache()
    monkeypatch.setenv("NBTRACK_KEY", OTHER)
    res = CliRunner().invoke(cli, ["runs"])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "key" in lines[0]


def test_key_file_permissions(tmp_path, monkeypatch):
    monkeypatch.delenv("NBTRACK_KEY", raising=False)
    kf = tmp_path / "key"
    kf.write_text(KEY + "\n")
    kf.chmod(0o644)
    with pytest.raises(crypto.InvalidKey, match="chmod 600"):
        crypto.find_key("x", str(kf))
    kf.chmod(0o600)
    assert crypto.find_key("x", str(kf)) == bytes.fromhex(KEY)
    # init --encrypt with a key file; the config's key_file opens it later
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRACK_URI", str(tmp_path / "w" / ".nbtrack"))
    monkeypatch.delenv("NBTRACK_KEY_FILE", raising=False)
    ws_mod.reset_cache()
    try:
        ws = ws_mod.init(tmp_path / "w", encrypt=True, key_file=str(kf))
        assert ws.objects.encrypted
        os.environ.pop("NBTRACK_KEY_FILE")
        (tmp_path / "w" / ".nbtrack" / "config.toml").write_text(f'[store]\nkey_file = "{kf}"\n')
        ws_mod.reset_cache()
        assert ws_mod.get_workspace().objects.encrypted
    finally:
        os.environ.pop("NBTRACK_KEY_FILE", None)
        ws_mod.reset_cache()


def test_plain_store_cannot_be_encrypted_in_place(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_KEY", KEY)
    store = ObjectStore(str(tmp_path / "objects"))
    store.put(b"clear")
    with pytest.raises(crypto.InvalidKey, match="in clear"):
        ws_mod.open_encryption(store, {}, create=True)


def test_fsck_detects_tampered_ciphertext(workspace):
    with nbtrack.track("r"):
        oid = nbtrack.log_artifact(b"some artifact content " * 100, name="a.bin")
    path = workspace.objects.path(oid)
    data = bytearray(open(path, "rb").read())
    data[40] ^= 1  # same size, one bit flipped
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(data)
    rep = nbtrack.fsck()
    assert oid in rep.corrupt
    with pytest.raises(CorruptObject, match="authentication"):
        workspace.objects.get(oid)
    # a ciphertext moved under another object's name fails too (the id is bound)
    other = workspace.objects.put(b"other")
    os.chmod(workspace.objects.path(other), 0o644)
    with open(workspace.objects.path(other), "wb") as f:
        f.write(workspace.objects.cipher.encrypt(oid, b"other"))
    assert workspace.objects.verify(other) == "fails authentication"


def test_fsspec_memory_store(monkeypatch):
    monkeypatch.setenv("NBTRACK_KEY", KEY)
    store = ObjectStore("memory://enc-test/objects")
    ws_mod.open_encryption(store, {"encryption": True})
    assert store.encrypted
    oid = store.put(b"PLAINTEXT-IN-MEMORY" * 10)
    raw = store.fs.cat_file(store.path(oid))
    assert b"PLAINTEXT-IN-MEMORY" not in raw
    assert store.get(oid) == b"PLAINTEXT-IN-MEMORY" * 10
    assert store.refresh([(oid, 190)])
    reopened = ObjectStore("memory://enc-test/objects")
    monkeypatch.setenv("NBTRACK_KEY", OTHER)
    with pytest.raises(crypto.InvalidKey, match="wrong encryption key"):
        ws_mod.open_encryption(reopened, {})
    assert list(reopened) == [oid]  # the marker is not an object


def test_key_from_the_os_keyring(monkeypatch):
    keyring = pytest.importorskip("keyring")
    from keyring.backend import KeyringBackend

    class Memory(KeyringBackend):  # a real backend class; this machine has no desktop keyring
        priority = 1
        store: dict = {}

        def get_password(self, service, username):
            return self.store.get((service, username))

        def set_password(self, service, username, password):
            self.store[(service, username)] = password

        def delete_password(self, service, username):
            self.store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(Memory())
    try:
        monkeypatch.delenv("NBTRACK_KEY", raising=False)
        monkeypatch.delenv("NBTRACK_KEY_FILE", raising=False)
        assert crypto.find_key("memory://kr/objects") is None
        keyring.set_password("nbtrack", "memory://kr/objects", KEY)
        assert crypto.find_key("memory://kr/objects") == bytes.fromhex(KEY)
        store = ObjectStore("memory://kr/objects")
        ws_mod.open_encryption(store, {}, create=True)
        assert store.encrypted
    finally:
        keyring.set_keyring(previous)


def test_backup_of_an_encrypted_workspace_stays_encrypted(workspace, tmp_path, monkeypatch):
    df = pd.DataFrame({"a": range(100)})
    nbtrack.snapshot(df, "d")
    nbtrack.backup(str(tmp_path / "bk"))
    assert (tmp_path / "bk" / "objects" / crypto.MARKER).is_file()
    ws_mod.reset_cache()
    monkeypatch.setenv("NBTRACK_URI", str(tmp_path / "bk"))
    assert nbtrack.load("d").equals(df)
    ws_mod.reset_cache()
    monkeypatch.setenv("NBTRACK_KEY", OTHER)
    with pytest.raises(crypto.InvalidKey):
        nbtrack.load("d")


def test_rekey_crash_and_resume(workspace, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from nbtrack.cli import cli
    from nbtrack.rekey import rekey

    df = pd.DataFrame({"a": range(30000), "s": [f"row{i}" for i in range(30000)]})
    with nbtrack.track("r"):
        nbtrack.snapshot(df, "d")
        arts = [nbtrack.log_artifact(f"artifact {i}".encode(), name=f"a{i}.txt") for i in range(250)]
    oids = sorted(workspace.objects)
    assert len(oids) > 250
    old_blobs = {o: open(workspace.objects.path(o), "rb").read() for o in oids}
    kf = tmp_path / "new.key"
    kf.write_text(OTHER)
    kf.chmod(0o600)
    ws_mod.reset_cache()
    with pytest.raises(RuntimeError, match="injected"):
        rekey(str(kf), fail_after=120)
    changed = [o for o in oids if open(workspace.objects.path(o), "rb").read() != old_blobs[o]]
    assert 120 <= len(changed) < len(oids)  # stopped half-way
    ws_mod.reset_cache()
    with pytest.raises(crypto.InvalidKey, match="rekey"):  # half-rekeyed: nothing opens it
        nbtrack.load("d")
    res = CliRunner().invoke(cli, ["rekey", "--new-key-file", str(kf)])  # resume, old key still set
    assert res.exit_code == 0, res.output
    assert f"re-encrypted {len(oids) - 120} of {len(oids)} objects (120 done before an interruption)" in res.output
    assert sorted(ObjectStore(workspace.objects.url)) == oids  # names kept
    assert all(open(workspace.objects.path(o), "rb").read() != old_blobs[o] for o in oids)
    ws_mod.reset_cache()
    with pytest.raises(crypto.InvalidKey, match="wrong encryption key"):
        nbtrack.load("d")  # the old key no longer opens it
    ws_mod.reset_cache()
    monkeypatch.setenv("NBTRACK_KEY", OTHER)
    assert nbtrack.load("d").equals(df)
    assert ws_mod.get_workspace().objects.get(arts[7]) == b"artifact 7"
    assert nbtrack.fsck().ok
    with nbtrack.track("after"):  # new writes dedupe against the rekeyed objects (same names)
        assert nbtrack.log_artifact(b"artifact 7", name="again.txt") == arts[7]
