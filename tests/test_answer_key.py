"""One definition of what changes an answer (harness.run.answer_key): every option a backend reads is in its
result-store key, a hand-written fingerprint that forgets one is caught, and a rerun says why a key changed."""

from __future__ import annotations

import asyncio

import pytest

from harness.backends.base import BackendConfig, create_backend
from harness.request import ChatRequest
from harness.run.answer_key import NOT_IN_KEY, key_changes, key_material, options_missing_from_key

REQUEST = ChatRequest.from_body({"messages": [{"role": "system", "content": "Answer 0 or 1."},
                                              {"role": "user", "content": "hello"}], "max_tokens": 8})


class ReadOptions(dict):
    """A backend's `options` that remembers every key read from it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def _read_while_answering(config: BackendConfig) -> tuple[set[str], dict]:
    config.options = ReadOptions(config.options)
    backend = create_backend(config)

    async def go():
        try:
            await backend.complete(REQUEST)
        finally:
            await backend.aclose()

    asyncio.run(go())
    return config.options.read, backend.fingerprint()


def test_every_option_an_http_backend_reads_is_in_its_key():
    from harness.servers.launch import start

    with start("fault", script=["ok"] * 4) as server:
        config = BackendConfig(name="b", kind="openai-compatible", base_url=server.base_url, model="m", options={
            "server": "vllm", "extra_body": {"reasoning_format": "parsed"}, "logprobs": 2})
        read, fingerprint = _read_while_answering(config)
    assert {"extra_body", "logprobs", "server", "return_token_ids"} <= read  # it did read them
    assert options_missing_from_key(read, config.options, fingerprint) == set()
    assert fingerprint["options"]["logprobs"] == 2 and fingerprint["extra_body"]["return_token_ids"] is True


def test_every_option_the_roost_backend_reads_is_in_its_key():
    from harness.servers.launch import start

    with start("roost", verdict="Violating", reasoning="Off-platform payment.") as server:
        config = BackendConfig(name="r", kind="roost", base_url=server.base_url, model="m",
                               options={"system_prompt": "Be strict.", "unwrap_content": False})
        read, fingerprint = _read_while_answering(config)
    assert {"system_prompt", "unwrap_content"} <= read
    assert options_missing_from_key(read, config.options, fingerprint) == set()


@pytest.mark.parametrize("kind", ["transformers-harmony", "transformers-pipeline"])
def test_every_option_a_local_backend_reads_is_in_its_key(assets, kind):
    config = BackendConfig(name="l", kind=kind, model="tiny-gpt-oss", options={"top_logprobs": 3},
                           sampling={"max_tokens": 8})
    read, fingerprint = _read_while_answering(config)
    assert "top_logprobs" in read
    assert options_missing_from_key(read, config.options, fingerprint) == set()
    assert fingerprint["revision"] == assets.revision and fingerprint["date"]  # what it resolved at run time


def test_a_hand_written_fingerprint_that_forgets_an_option_is_caught():
    """The old RemoteBackend.fingerprint spelled its fields by hand: `logprobs` (which changes what a server
    returns and so what is stored) was in no key. The check names it."""
    config = BackendConfig(name="b", kind="openai-compatible", base_url="http://127.0.0.1:9/v1", model="m",
                           options={"logprobs": 5, "server": "vllm"})
    legacy = {"kind": config.kind, "base_url": config.base_url, "model": config.model, "revision": None,
              "sampling": {}, "reasoning_effort": None}
    read = {"logprobs", "server", "return_token_ids"}  # the last one read but not given: its default
    assert options_missing_from_key(read, config.options, legacy) == {"logprobs", "server"}
    assert options_missing_from_key(read, config.options, {**legacy, "options": {"server": "vllm"}}) == {
        "logprobs"}
    assert options_missing_from_key(read, config.options, key_material(config, {})) == set()


def test_the_key_is_the_whole_config_but_the_named_exclusions():
    fields = set(BackendConfig.model_fields)
    material = key_material(BackendConfig(name="b", kind="openai-compatible", base_url="http://x/v1"), {})
    assert fields - set(NOT_IN_KEY) <= set(material)  # a new field is in the key the day it is added
    assert not set(NOT_IN_KEY) & set(material)
    assert all(reason for reason in NOT_IN_KEY.values())


def test_key_changes_name_the_fields():
    before = {"kind": "k", "revision": "a", "options": {"logprobs": 5, "server": "vllm"}}
    after = {"kind": "k", "revision": "b", "options": {"logprobs": 3, "server": "vllm"}}
    assert key_changes(before, after) == ["options.logprobs", "revision"]
    assert key_changes(None, after) == [] and key_changes(after, after) == []


def test_a_rerun_whose_key_changed_says_why(tmp_path):
    from harness.run.compare import CompareOptions, run_compare

    def config(top: int):
        path = tmp_path / f"harness-{top}.toml"
        path.write_text("[backends.local-harmony]\nkind = \"transformers-harmony\"\nmodel = \"tiny-gpt-oss\"\n"
                        f"options = {{ top_logprobs = {top} }}\n[backends.local-harmony.sampling]\nmax_tokens = 8\n")
        return path

    def compare(top: int):
        return run_compare(CompareOptions(scenario="spam", out=tmp_path / "run", profile="config",
                                          config=config(top), repeats=1, limit=1, capture=False, progress=False))

    first = compare(5)
    assert not any("key changed" in note for note in first.notes)
    same = compare(5)
    assert same.summary.skipped == 1 and not any("key changed" in note for note in same.notes)
    changed = compare(3)
    assert changed.summary.skipped == 0
    assert any("local-harmony: answers stored by an earlier run are not reused: its key changed in "
               "options.top_logprobs" in note for note in changed.notes), changed.notes
