"""harness.toml: a valid file loads; every kind of mistake is one clear line naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends.base import available_backend_kinds
from harness.config import load_config, load_harness_config
from harness.errors import HarnessError

ROOT = Path(__file__).resolve().parent.parent

VALID = """
[defaults]
timeout = 30
sampling = { temperature = 0.0, max_tokens = 128 }

[backends.local]
kind = "transformers-harmony"

[backends.groq]
kind = "hf-inference"
model = "openai/gpt-oss-safeguard-20b"
provider = "groq"
api_key_env = "HF_TOKEN"
reasoning_effort = "low"
sampling = { max_tokens = 512 }

[compare]
scenario = "scenarios/spam.toml"
backends = ["local", "groq"]
repeats = 3
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "harness.toml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(HarnessError) as caught:
        load_harness_config(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("harness.toml: ")
    return message


def test_valid_file_loads_with_defaults_merged(tmp_path):
    config = load_harness_config(write(tmp_path, VALID))
    assert list(config.backends) == ["local", "groq"]
    groq = config.backends["groq"]
    assert groq.name == "groq" and groq.provider == "groq" and groq.reasoning_effort == "low"
    assert groq.timeout == 30
    # nested tables merge key by key; the backend's own value wins
    assert groq.sampling.temperature == 0.0 and groq.sampling.max_tokens == 512
    assert config.backends["local"].sampling.max_tokens == 128
    assert config.compare.backends == ["local", "groq"] and config.compare.repeats == 3
    assert load_config(write(tmp_path, VALID)).keys() == config.backends.keys()


def test_example_file_loads():
    config = load_harness_config(ROOT / "harness.example.toml")
    kinds = {b.kind for b in config.backends.values()}
    assert {"transformers-pipeline", "transformers-harmony", "openai-compatible", "hf-inference"} <= kinds
    assert any(b.provider == "groq" for b in config.backends.values())


def test_unknown_kind(tmp_path):
    message = error_of(tmp_path, '[backends.groq]\nkind = "grok"\n')
    assert message.startswith("harness.toml: backends.groq.kind: unknown backend kind 'grok'; known: ")
    for kind in available_backend_kinds():
        assert kind in message


def test_bad_effort(tmp_path):
    message = error_of(tmp_path, '[backends.a]\nkind = "openai-compatible"\nreasoning_effort = "max"\n')
    assert message.startswith("harness.toml: backends.a.reasoning_effort: must be one of low, medium, high")


def test_unknown_key_and_missing_kind(tmp_path):
    assert error_of(tmp_path, '[backends.a]\nkind = "openai-compatible"\nbase_ur = "x"\n') == \
        "harness.toml: backends.a.base_ur: unknown key"
    assert "backends.a.kind: missing" in error_of(tmp_path, '[backends.a]\nmodel = "m"\n')
    assert "backends.a.sampling.temprature: unknown key" in error_of(
        tmp_path, '[backends.a]\nkind = "openai-compatible"\nsampling = { temprature = 0 }\n')


@pytest.mark.parametrize("line", ['api_key = "zq81secret"', 'token = "zq81secret"', 'model = "hf_zq81secret"',
                                  'options = { headers = { Authorization = "zq81secret" } }',
                                  'options = { extra = "sk-proj-zq81secret" }', 'base_url = "gsk_zq81secret"'])
def test_literal_secret_refused_without_echo(tmp_path, line):
    message = error_of(tmp_path, f'[backends.a]\nkind = "openai-compatible"\n{line}\n')
    assert "api_key_env" in message and "backends.a." in message
    assert "zq81secret" not in message


def test_secret_in_defaults_refused(tmp_path):
    assert "defaults.api_key" in error_of(tmp_path, '[defaults]\napi_key = "k"\n')


def test_not_toml(tmp_path):
    message = error_of(tmp_path, "[backends.a\nkind = \n")
    assert message.startswith("harness.toml: not valid TOML: ")


def test_compare_names_unknown_backend(tmp_path):
    message = error_of(tmp_path, '[backends.a]\nkind = "openai-compatible"\n[compare]\nbackends = ["a", "b"]\n')
    assert message == "harness.toml: compare.backends: no backend named 'b' (known: a)"


def test_unknown_table_and_bad_repeats(tmp_path):
    assert error_of(tmp_path, '[backend.a]\nkind = "x"\n').startswith("harness.toml: backend: unknown table")
    assert "compare.repeats" in error_of(tmp_path, "[compare]\nrepeats = 0\n")


def test_missing_file(tmp_path):
    with pytest.raises(HarnessError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
