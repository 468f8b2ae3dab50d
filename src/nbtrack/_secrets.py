"""Secrets never reach the store: what looks like a credential is replaced by ``***``.

Three complementary rules, all applied before anything is written:

* **key names** (:func:`is_secret_key`): a value bound to a name that *means* a
  credential (``password``, ``db_pwd``, ``api_key``, ``accessToken``,
  ``Authorization``, ``private_key``, ``dsn`` …) is masked, in params, tags,
  nested dict/list values, source code and ``KEY=VALUE`` text. Names that merely
  contain such a word but mean something else are not (``token_pattern``,
  ``tokenizer``, ``max_tokens``, ``pad_token``, ``password_length``, ``sort_key``).
* **shapes** (:func:`scrub_text`): credentials inside URLs
  (``postgresql://user:PW@host``), ``Authorization: Bearer …`` headers, PEM
  private keys and well-known token formats (GitHub, GitLab, AWS access key
  ids, Slack, Stripe, OpenAI/Anthropic, Google, Hugging Face, npm, PyPI, JWT).
* **known values**: every value masked for a run (a literal assigned to a
  secret-looking name, a secret-looking variable or environment variable) is
  also removed from the run's stdout.

No entropy heuristics: they flag hashes, ids and numbers in ordinary output and
cost far more than a tracked cell may (see docs/security.md).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable
from typing import Any, overload

MASK = "***"
MIN_SECRET_LEN = 4  # known values shorter than this are not searched for in text

# -- key names ------------------------------------------------------------------
# a key is split into lower-case words: api_key, apiKey, API-KEY, X-Api-Key -> [api, key]
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# a word that alone means a credential
_SECRET_WORDS = {
    "password", "passwd", "passwords", "pwd", "pw", "pass", "passphrase", "secret", "secrets",
    "credential", "credentials", "creds", "cred", "apikey", "apikeys", "privatekey", "authorization",
    "auth", "bearer", "cookie", "dsn", "connstr", "jwt", "otp",
}
# "<word> key" means a credential: api_key, private_key, aws_secret_access_key, ssh_key ...
_KEY_QUALIFIERS = {
    "api", "private", "secret", "access", "encryption", "signing", "client", "master", "license",
    "ssh", "gpg", "pgp", "auth", "session", "account", "subscription", "service", "app", "consumer",
    "shared", "storage", "host", "admin", "root", "deploy", "webhook", "hmac", "crypto", "decryption",
}
# "<qualifier> token" that is NOT a credential (NLP vocabularies: pad_token="[PAD]" ...)
_NLP_TOKENS = {
    "pad", "eos", "bos", "unk", "mask", "sep", "cls", "start", "end", "special", "stop", "split",
    "additional", "image", "audio", "video", "begin", "sentence", "word", "sub", "max", "min", "num",
    "n", "new", "next", "prev", "last", "first", "decoder", "encoder", "vocab", "bpe", "sos", "eot",
}
# a last word that makes the key about a secret, not the secret: password_file, token_url ...
_BENIGN_LAST = {
    "url", "uri", "endpoint", "host", "port", "path", "file", "dir", "folder", "name", "names", "type",
    "kind", "method", "mode", "enabled", "enable", "required", "len", "length", "size", "count", "num",
    "id", "ids", "env", "var", "field", "column", "col", "pattern", "regex", "policy", "prompt",
    "min", "max", "timeout", "expiry", "expires", "ttl", "header", "format", "version", "provider",
    "scheme", "strategy", "backend", "class", "cls", "location", "source", "store", "manager", "hash",
}
# a first word that makes the key a count or a switch: n_tokens, use_auth, is_secret ...
_BENIGN_FIRST = {"n", "num", "count", "max", "min", "use", "has", "is", "enable", "require", "no", "len"}
_COMPACT = re.compile(r"(pass(word|wd|phrase)|secret|credential|apikey|privatekey|authorization|"
                      r"accesstoken|authtoken|bearertoken|apitoken|sessiontoken|refreshtoken)", re.I)


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Does the name ``key`` mean a credential (so the value bound to it must be masked)?"""
    if not isinstance(key, str) or not key:
        return False
    words = [w.lower() for w in _WORDS.findall(key)]
    if not words:
        return False
    if len(words) > 1 and (words[-1] in _BENIGN_LAST or words[0] in _BENIGN_FIRST):
        return False
    for i, w in enumerate(words):
        if w in _SECRET_WORDS:
            return True
        prev = words[i - 1] if i else ""
        if w == "key" and prev in _KEY_QUALIFIERS:
            return True
        # token (singular) as the key's last word, or followed by "secret"-ish words
        if w == "token" and i == len(words) - 1 and prev not in _NLP_TOKENS:
            return True
        if w in ("tokens", "token") and prev in ("access", "auth", "api", "refresh", "bearer", "session", "id"):
            return i == len(words) - 1 or words[-1] not in _BENIGN_LAST
    # one long lower-case word: dbpassword, myapikey, githubaccesstoken
    return len(words) == 1 and bool(_COMPACT.search(words[0])) and not words[0].startswith(("bypass", "compass"))


def _keep(value: Any) -> bool:
    """Values that carry no secret even under a secret key: flags and empties."""
    return value is None or isinstance(value, bool) or value in ("", b"")


def mask_value(key: Any, value: Any) -> Any:
    """``value`` as it may be stored under ``key``: masked if the key means a credential,
    else with every nested secret-keyed item and every credential-shaped string masked."""
    try:
        if isinstance(key, str) and is_secret_key(key) and not _keep(value):
            return MASK
        return _mask_nested(value, 0)
    except RecursionError:
        return MASK


def _mask_nested(value: Any, depth: int) -> Any:
    if depth > 50:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and is_secret_key(k) and not _keep(v) else _mask_nested(v, depth + 1))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        out = [_mask_nested(v, depth + 1) for v in value]
        return type(value)(out) if type(value) in (list, tuple) else out
    return value


# -- shapes in text -------------------------------------------------------------
_URL_CREDS = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]{1,30}://[^:/@\s'\"]*:)(?P<pw>[^@/\s'\"]+)(?=@)")
# (a literal that must be present, the token shape): the literal check is a fast prefilter
_TOKEN_SHAPES = [(lit, re.compile(rx, re.S)) for lit, rx in [
    ("-----BEGIN",
     r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)"),
    ("AKIA", r"\bAKIA[0-9A-Z]{16}\b"), ("ASIA", r"\bASIA[0-9A-Z]{16}\b"),
    ("gh", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}\b"),
    ("glpat-", r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
    ("xox", r"\bxox[abposre]-[A-Za-z0-9-]{10,}"),
    ("hooks.slack.com", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),
    ("_live_", r"\b(?:sk|rk|pk)_live_[A-Za-z0-9]{16,}\b"), ("_test_", r"\b(?:sk|rk|pk)_test_[A-Za-z0-9]{16,}\b"),
    ("sk-", r"\bsk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}"),
    ("AIza", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ("hf_", r"\bhf_[A-Za-z0-9]{30,}\b"), ("npm_", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("pypi-", r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),
    ("SG.", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("eyJ", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
]]
# KEY=VALUE, KEY: VALUE, "KEY": "VALUE", KEY="VALUE", Authorization: Bearer VALUE ...
_ASSIGN = re.compile(
    r"(?P<key>[A-Za-z_][A-Za-z0-9_.-]{0,80})(?P<sep>['\"]?\s*(?::|=|:=)\s*[bru]?['\"]?)"
    r"(?P<val>(?:(?:Bearer|Basic|Token|Digest|token|bearer|basic)\s+)?[^\s'\",;&)}\]]+)"
)
_SHELL_SET = re.compile(
    r"^(?P<head>\s*(?:%env|%set_env|export|set|setenv)\s+(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?:\s*=\s*|\s+))(?P<val>\S.*)$",
    re.M)


_KEY_HINTS = ("pass", "pwd", "pw", "secret", "cred", "key", "token", "auth", "bearer", "cookie", "dsn", "jwt", "otp",
              "connstr")


def _hinted(text: str) -> bool:
    low = text.lower()
    return any(h in low for h in _KEY_HINTS)


def _mask_assignments(text: str) -> str:
    if not ("=" in text or ":" in text) or not _hinted(text):
        return text
    if len(text) > 2000 and "\n" in text:  # only lines that could hold a secret key
        return "".join(_mask_assignments(ln) if _hinted(ln) else ln for ln in text.splitlines(keepends=True))
    out, pos, start = [], 0, 0
    while True:
        m = _ASSIGN.search(text, pos)
        if m is None:
            break
        if m.group("val") != MASK and is_secret_key(m.group("key").rsplit(".", 1)[-1]):
            out.append(text[start:m.start("val")] + MASK)
            start = pos = m.end("val")
        else:  # the value may itself start a KEY=VALUE (env: TOKEN=...)
            pos = m.start("val")
    out.append(text[start:])
    return "".join(out)


@overload
def scrub_text(text: str, values: Iterable[str] = ()) -> str: ...
@overload
def scrub_text(text: str | None, values: Iterable[str] = ()) -> str | None: ...
def scrub_text(text: str | None, values: Iterable[str] = ()) -> str | None:
    """``text`` with credential shapes and the given known secret ``values`` replaced by ``***``."""
    if not isinstance(text, str) or not text:
        return text
    known = sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LEN and v != MASK},
                   key=len, reverse=True)
    for v in known:
        if v in text:
            text = text.replace(v, MASK)
    text = scrub_shapes(text)
    if "env" in text or "set" in text or "export" in text:
        text = _SHELL_SET.sub(lambda m: m.group("head") + MASK if is_secret_key(m.group("key")) else m.group(0), text)
    return _mask_assignments(text)


def scrub_shapes(text: str) -> str:
    """``text`` with credentials in URLs and well-known token formats replaced by ``***``
    (safe on source code: a masked token stays inside its quotes)."""
    for lit, rx in _TOKEN_SHAPES:
        if lit in text:
            text = rx.sub(MASK, text)
    if "://" in text:
        text = _URL_CREDS.sub(lambda m: m.group("head") + MASK, text)
    return text


def secret_values(value: Any, key: str | None = None, _depth: int = 0) -> list[str]:
    """The strings inside ``value`` that :func:`mask_value` would hide under ``key``."""
    out: list[str] = []
    if _depth > 50:
        return out
    secret = key is not None and is_secret_key(key)
    if isinstance(value, (str, bytes)):
        if secret:
            out.append(value.decode(errors="replace") if isinstance(value, bytes) else value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if secret:
            out.append(str(value))
    elif isinstance(value, dict):
        for k, v in value.items():
            out += secret_values(v, k if isinstance(k, str) and is_secret_key(k) else (key if secret else None),
                                 _depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            out += secret_values(v, key if secret else None, _depth + 1)
    return out


def namespace_secrets(ns: dict, limit: int = 20000) -> list[str]:
    """String values of secret-looking names in a namespace (a kernel's ``user_ns``)."""
    out = []
    for i, (k, v) in enumerate(ns.items()):
        if i >= limit:
            break
        # type(), not isinstance(): a user object's __class__ may raise
        if issubclass(type(v), str) and type(k) is str and not k.startswith("_") and is_secret_key(k):
            out.append(v)
    return out


def env_secrets(environ: dict | None = None) -> list[str]:
    """Values of secret-looking environment variables (``GITHUB_TOKEN``, ``PGPASSWORD`` …)."""
    import os

    env = os.environ if environ is None else environ
    return [v for k, v in env.items() if is_secret_key(k)]


def mask_notebook(data: bytes, values: Iterable[str] = ()) -> bytes:
    """An executed notebook (JSON bytes) safe to store: sources masked, outputs scrubbed."""
    import json

    values = list(values)
    try:
        nb = json.loads(data)
    except Exception:
        return scrub_text(data.decode("utf-8", "replace"), values).encode()
    if not isinstance(nb, dict):
        return data
    original = json.loads(data)
    def scrubbed(v, code: bool = False):
        """``v`` (a notebook text: str or list of lines) masked, or ``v`` itself if nothing changed."""
        text = "".join(v) if isinstance(v, list) else v
        if not isinstance(text, str):
            return v
        out = scrub_text(mask_source(text)[0] if code else text, values)
        return v if out == text else out

    for cell in nb.get("cells") or []:
        if not isinstance(cell, dict):
            continue
        if "source" in cell:
            cell["source"] = scrubbed(cell["source"], code=cell.get("cell_type") == "code")
        for out in cell.get("outputs") or []:
            if not isinstance(out, dict):
                continue
            if "text" in out:
                out["text"] = scrubbed(out["text"])
            mimes = out.get("data")
            bundle: dict = mimes if isinstance(mimes, dict) else {}
            for mime in list(bundle):
                if mime.startswith("text/") or mime.endswith("json"):
                    bundle[mime] = scrubbed(bundle[mime])
            if "evalue" in out:
                out["evalue"] = scrubbed(out["evalue"])
            if isinstance(out.get("traceback"), list):
                out["traceback"] = [scrubbed(t) for t in out["traceback"]]
    params = (nb.get("metadata") or {}).get("papermill", {}).get("parameters")
    if isinstance(params, dict):
        nb["metadata"]["papermill"]["parameters"] = {k: mask_value(k, v) for k, v in params.items()}
    if nb == original:
        return data
    return json.dumps(nb, ensure_ascii=False, indent=1).encode()


# -- source code ------------------------------------------------------------------
# cell magics whose body is Python run by IPython (masked as Python, not as text)
PY_BODY_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
_LOOKUP_FUNCS = {"get", "getenv", "environ", "getpass", "input", "pop", "setdefault", "getitem", "get_secret",
                 "Variable", "getattr"}


def _names(t: ast.AST) -> list[str]:
    if isinstance(t, ast.Name):
        return [t.id]
    if isinstance(t, ast.Attribute):
        return [t.attr]
    if isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant) and isinstance(t.slice.value, str):
        return [t.slice.value]
    if isinstance(t, ast.Starred):
        return _names(t.value)
    return []


def _literals(node: ast.AST | None, out: list[ast.expr], depth: int = 0) -> None:
    """The literal leaves of an expression bound to a secret: what must not be stored."""
    if node is None or depth > 100:
        return
    d = depth + 1
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, (str, bytes)) and v not in ("", b""):
            out.append(node)
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 1000:
            out.append(node)
    elif isinstance(node, ast.JoinedStr):
        out.append(node)
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        for elt in node.elts:
            _literals(elt, out, d)
    elif isinstance(node, ast.Dict):
        for value in node.values:
            _literals(value, out, d)
    elif isinstance(node, ast.BinOp):
        _literals(node.left, out, d)
        _literals(node.right, out, d)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _literals(value, out, d)
    elif isinstance(node, ast.IfExp):
        _literals(node.body, out, d)
        _literals(node.orelse, out, d)
    elif isinstance(node, (ast.Starred, ast.Attribute, ast.NamedExpr)):
        _literals(node.value, out, d)
    elif isinstance(node, ast.Call):
        f = node.func
        fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        args = node.args[1:] if fname in _LOOKUP_FUNCS else node.args  # a lookup's key is a name, not a secret
        for a in args:
            _literals(a, out, d)
        for k in node.keywords:
            _literals(k.value, out, d)
        if isinstance(f, ast.Attribute):  # "SEKRIT".strip()
            _literals(f.value, out, d)


def _pair(target: ast.AST, value: ast.AST | None, out: list[ast.expr]) -> None:
    """Mask what ``value`` binds to secret-looking parts of ``target`` (tuple unpacking pairwise)."""
    if value is None:
        return
    if isinstance(target, (ast.Tuple, ast.List)):
        if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) and \
                not any(isinstance(e, ast.Starred) for e in target.elts):
            for t, v in zip(target.elts, value.elts):
                _pair(t, v, out)
        elif any(is_secret_key(n) for e in target.elts for n in _names(e)):
            _literals(value, out)
        return
    if any(is_secret_key(n) for n in _names(target)):
        _literals(value, out)


def _secret_nodes(tree: ast.AST) -> list[ast.expr]:
    out: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                _pair(t, node.value, out)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            _pair(node.target, node.value, out)
        elif isinstance(node, ast.NamedExpr):
            _pair(node.target, node.value, out)
        elif isinstance(node, ast.keyword) and node.arg and is_secret_key(node.arg):
            _literals(node.value, out)
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and isinstance(k.value, str) and is_secret_key(k.value):
                    _literals(v, out)
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_secret_key(n) for s in sides for n in _names(s)):
                for s in sides:
                    if isinstance(s, ast.Constant):
                        _literals(s, out)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            pos = a.posonlyargs + a.args
            for arg, default in zip(pos[len(pos) - len(a.defaults):], a.defaults):
                if is_secret_key(arg.arg):
                    _literals(default, out)
            for arg, kw_default in zip(a.kwonlyargs, a.kw_defaults):
                if kw_default is not None and is_secret_key(arg.arg):
                    _literals(kw_default, out)
    return out


def _pythonize(source: str) -> tuple[str | None, set[int]]:
    """``source`` with IPython-only lines (``!cmd``, ``%magic``, ``x = !cmd``, ``obj?``, a Python
    cell magic's first line) made plain Python on the same line numbers, and the 0-based
    numbers of the lines so replaced; ``None`` when the body is not Python (``%%bash`` …)."""
    lines = source.splitlines(keepends=True)
    replaced: set[int] = set()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    i = 0
    while first is not None and lines[first].lstrip().startswith("%%"):
        name = lines[first].lstrip()[2:].split(None, 1)[0] if lines[first].strip() != "%%" else ""
        if name not in PY_BODY_MAGICS:
            return None, replaced
        replaced.add(first)
        i = first + 1
        first = next((j for j in range(i, len(lines)) if lines[j].strip()), None)
    out = list(lines)
    for j in range(len(lines)):
        s = lines[j].strip()
        indent = lines[j][: len(lines[j]) - len(lines[j].lstrip())]
        nl = "\n" if lines[j].endswith("\n") else ""
        if j in replaced:
            out[j] = nl
        elif s.startswith(("!", "%")) or (s.endswith("?") and not s.startswith("#")):
            out[j] = indent + "pass" + nl
            replaced.add(j)
        elif re.match(r"^[\w.,\s\[\]()]+=\s*[!%]", s):
            out[j] = indent + s.split("=", 1)[0].rstrip() + " = None" + nl
            replaced.add(j)
    return "".join(out), replaced


def mask_source(source: str, tree: ast.Module | None = None, line_offset: int = 0) -> tuple[str, list[str]]:
    """``(masked source, literal values masked)``: literals bound to secret-looking names
    (assignments incl. tuple unpacking and augmented ones, keyword arguments, dict items,
    comparisons, parameter defaults) become ``'***'``; IPython lines, non-Python cell magic
    bodies and unparsable code are masked as text; then credential shapes and the masked
    values are removed everywhere in the source.

    ``tree`` may be given when the caller already parsed the same code shifted down by
    ``line_offset`` lines."""
    py, replaced = (source, set()) if tree is not None else _pythonize(source)
    if tree is None:
        line_offset = 0
        if py is not None:
            try:
                tree = ast.parse(py)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                tree = None
    lines = source.splitlines(keepends=True)
    values: list[str] = []
    if tree is None:  # not Python: every line as text
        masked = [scrub_text(ln) for ln in lines]
        return scrub_shapes("".join(masked)), values
    spans = []
    for n in _secret_nodes(tree):
        if getattr(n, "lineno", None) is None:
            continue
        end = n.end_lineno if n.end_lineno is not None else n.lineno
        spans.append((n.lineno - line_offset, n.col_offset, end - line_offset, n.end_col_offset))
        if isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes)):
            values.append(n.value.decode(errors="replace") if isinstance(n.value, bytes) else str(n.value))
    for j in replaced:
        if j < len(lines):
            lines[j] = scrub_text(lines[j])
    for j, line in enumerate(lines):  # comments: "# password: hunter2", "# token=..."
        if j not in replaced and "#" in line and _hinted(line):
            head, sep, tail = line.partition("#")
            lines[j] = head + sep + scrub_text(tail)
    last_end = (10**9, 0)
    for l1, c1, l2, c2 in sorted(set(spans), reverse=True):
        if (l2, c2) > last_end or l1 < 1 or l2 > len(lines):  # overlaps a span already masked
            continue
        first = lines[l1 - 1].encode()  # ast offsets are UTF-8 byte offsets within a line
        last = lines[l2 - 1].encode()
        # a literal over several lines keeps them, so line numbers stay those of the cell
        mask = repr(MASK) if l1 == l2 else "(" + repr(MASK) + "\n" * (l2 - l1) + ")"
        lines[l1 - 1:l2] = [(first[:c1] + mask.encode() + last[c2:]).decode("utf-8", "replace")]
        last_end = (l1, c1)
    text = scrub_shapes("".join(lines))
    known = [v for v in values if len(v) >= MIN_SECRET_LEN]
    if known:
        text = _replace_known(text, known)
    return text, values


def _replace_known(text: str, values: list[str]) -> str:
    for v in sorted(set(values), key=len, reverse=True):
        if v in text and v != MASK:
            text = text.replace(v, MASK)
    return text
