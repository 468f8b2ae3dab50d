"""nbtrack._secrets: which names mean credentials, and every place a secret is masked."""

from __future__ import annotations

import json
import time

import pytest

from nbtrack._secrets import (MASK, env_secrets, is_secret_key, mask_notebook, mask_source, mask_value,
                              namespace_secrets, scrub_text, secret_values)

SECRET_KEYS = """password passwd pwd db_pwd DB_PASS smtp_pw passphrase passwords PGPASSWORD dbpassword
    private_key privateKey ssh_key encryption_key signing_key client_secret secret secrets secret_token
    Authorization Proxy-Authorization X-Auth-Token X-Api-Key auth headers_auth basic_auth dsn jwt cookie
    api_key apiKey API_KEY OPENAI_API_KEY apikey api_token access_token accessToken refresh_token
    session_token auth_token GITHUB_TOKEN HF_TOKEN token aws_secret_access_key creds credentials""".split()

NOT_SECRET_KEYS = """token_pattern tokenizer tokenizer_kwargs max_tokens n_tokens num_tokens tokens pad_token
    eos_token mask_token special_tokens token_ids token_type_ids tokens_per_second password_length
    password_file token_url secret_name key sort_key primary_key cache_key author authors use_auth is_secret
    passes passage bypass compass keyboard monkey lr n_estimators""".split()


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_credential_names_are_secret(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", NOT_SECRET_KEYS)
def test_names_that_only_contain_a_word_are_not(key):
    assert not is_secret_key(key)  # issue 20 item 9: CountVectorizer(token_pattern=...) stays readable


def test_param_values_are_masked_recursively_and_by_shape():
    value = {"host": "db", "password": "S1", "nested": {"api_key": "S2", "n": 3},
             "rows": [{"pwd": "S3"}, ("a", {"token": "S4"})], "url": "postgresql://bob:S5@db:5432/x",
             "flag_secret": None, "use_auth": True}
    out = mask_value("config", value)
    assert out == {"host": "db", "password": MASK, "nested": {"api_key": MASK, "n": 3},
                   "rows": [{"pwd": MASK}, ("a", {"token": MASK})], "url": "postgresql://bob:***@db:5432/x",
                   "flag_secret": None, "use_auth": True}
    assert mask_value("password", ["a", "b"]) == MASK and mask_value("password", 123456) == MASK
    assert mask_value("password", None) is None and mask_value("secret_enabled", True) is True
    assert mask_value("tokenizer", "word") == "word"
    assert mask_value("x", "ghp_" + "a" * 36) == MASK
    assert sorted(secret_values(value, "config")) == ["S1", "S2", "S3", "S4"]


@pytest.mark.parametrize("text, kept", [
    ("env: GITHUB_TOKEN=SEKRIT1\n", "env: GITHUB_TOKEN=***\n"),
    ("{'password': 'SEKRIT2', 'lr': 0.1}", "{'password': '***', 'lr': 0.1}"),
    ("Authorization: Bearer SEKRIT3.x\nok", "Authorization: ***\nok"),
    ("conn postgresql://bob:SEKRIT4@db/x done", "conn postgresql://bob:***@db/x done"),
    ("Server=db;User Id=bob;Password=SEKRIT5;", "Server=db;User Id=bob;Password=***;"),
    ("key AKIAIOSFODNN7EXAMPLE and ghp_abcdefghijklmnopqrstuvwxyz0123456789 xoxb-1234567890-abcdefghij",
     "key *** and *** ***"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nafter", "***\nafter"),
    ("%env DB_PASSWORD SEKRIT6", "%env DB_PASSWORD ***"),
    ("epoch 1 loss=0.25 acc=0.9 tokens=512 max_tokens: 64", "epoch 1 loss=0.25 acc=0.9 tokens=512 max_tokens: 64"),
])
def test_scrub_text(text, kept):
    assert scrub_text(text) == kept


def test_scrub_text_removes_known_values_and_is_fast():
    assert scrub_text("the pin is hunter22!", ["hunter22", "ab"]) == "the pin is ***!"
    lines = "epoch 3: loss=0.2312 acc=0.9101 val_acc=0.8877 lr=0.001\n" * 200  # 12 KB, no secret
    t0 = time.perf_counter()
    for _ in range(10):
        assert scrub_text(lines, ["S3kr3tValue"]) == lines
    assert (time.perf_counter() - t0) / 10 < 0.005


@pytest.mark.parametrize("src, secret", [
    ('user, password = "bob", "SEKRIT-C"', "SEKRIT-C"),
    ('(user, password) = ["bob", "SEKRIT-C"]', "SEKRIT-C"),
    ('passwords = ["SEKRIT-D"]', "SEKRIT-D"),
    ('secret_token = "SEKRIT" + "-14"', "SEKRIT"),
    ('!true\nsettings = {"api_key": "SEKRIT-E"}\nx = !ls\n%matplotlib inline', "SEKRIT-E"),
    ('%env GITHUB_TOKEN=SEKRIT-F', "SEKRIT-F"),
    ('%%time\npassword = "SEKRIT-G"\nprint("SEKRIT-G")', "SEKRIT-G"),
    ('%%bash\nexport DB_PASSWORD=SEKRIT-H\necho hi', "SEKRIT-H"),
    ('%%writefile cfg.yml\npassword: SEKRIT-H2\n', "SEKRIT-H2"),
    ('conn = "postgresql://bob:SEKRIT-I@db/x"', "SEKRIT-I"),
    ('headers = {"Authorization": "Bearer SEKRIT-J"}', "SEKRIT-J"),
    ('auth = ("bob", "SEKRIT-K")', "SEKRIT-K"),
    ('pwd = "SEKRIT-L"\nprivate_key = """SEKRIT\n-M"""', "SEKRIT"),
    ('pw = os.environ.get("DB_PW", "SEKRIT-N")', "SEKRIT-N"),
    ('if password == "SEKRIT-O":\n    pass', "SEKRIT-O"),
    ('def connect(host, token="SEKRIT-P"):\n    pass', "SEKRIT-P"),
    ('password: str = f"{x}SEKRIT-Q"', "SEKRIT-Q"),
    ('cfg = dict(password="SEKRIT-R")\nconnect("bob", "SEKRIT-R")', "SEKRIT-R"),
    ('db.password = "SEKRIT-S"\nos.environ["AWS_SECRET_ACCESS_KEY"] = "SEKRIT-T"', "SEKRIT-"),
    ('client = Client(key="ghp_abcdefghijklmnopqrstuvwxyz0123456789")', "ghp_"),
    ('x = = "broken"\npassword = "SEKRIT-U"', "SEKRIT-U"),
    ('# connect with password: SEKRIT-V\nx = 1  # api_key=SEKRIT-V', "SEKRIT-V"),
])
def test_source_masking(src, secret):
    masked, _ = mask_source(src)
    assert secret not in masked
    assert masked.count("\n") == src.count("\n")  # line numbers kept


def test_source_masking_keeps_what_is_not_a_secret():
    src = ('v = CountVectorizer(token_pattern=r"(?u)\\b\\w+\\b", tokenizer=None)\npad_token = "[PAD]"\n'
           'password = os.environ["DB_PASSWORD"]\n')
    assert mask_source(src)[0] == src
    masked, values = mask_source('user, password = "bob", "SEKRIT-C"')
    assert masked == "user, password = \"bob\", '***'" and values == ["SEKRIT-C"]


def test_namespace_and_environment_secrets():
    assert namespace_secrets({"api_token": "abc", "tokenizer": "w", "_password": "x", "password": 3}) == ["abc"]
    assert env_secrets({"GITHUB_TOKEN": "g", "HOME": "/root", "PGPASSWORD": "p"}) == ["g", "p"]


def test_executed_notebook_is_masked():
    nb = {"cells": [
        {"cell_type": "code", "source": ["# Parameters\n", 'api_token = "SEKRIT-X"\n'], "metadata": {}, "outputs": []},
        {"cell_type": "code", "source": "print(api_token)", "metadata": {},
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["SEKRIT-X\n"]}]},
    ], "metadata": {"papermill": {"parameters": {"api_token": "SEKRIT-X", "C": 2}}}, "nbformat": 4}
    out = mask_notebook(json.dumps(nb).encode(), ["SEKRIT-X"])
    assert b"SEKRIT-X" not in out
    assert json.loads(out)["metadata"]["papermill"]["parameters"] == {"api_token": MASK, "C": 2}
    clean = json.dumps({"cells": [], "metadata": {}}).encode()
    assert mask_notebook(clean, []) is clean  # nothing to mask: the same bytes
