"""Offline assets: verified vocab and template, a tokenizer equal to openai-harmony, clear errors."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import assert_clean_error, run_harness
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import assets as assets_module
from harness.errors import HarnessError


def test_provisioned_files_carry_the_pinned_hashes(assets):
    assert assets_module.sha256_file(assets.vocab_path) == assets_module.VOCAB_SHA256
    assert assets.template_sha256 == assets_module.TEMPLATE_SHA256
    assert "<|start|>system<|message|>" in assets.template
    assert (assets.model_dir / "config.json").exists()
    config = json.loads((assets.model_dir / "config.json").read_text())
    assert config["model_type"] == "gpt_oss" and config["vocab_size"] == 201088


@pytest.fixture(scope="module")
def tokenizer(assets):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(assets.tokenizer_dir)


SPECIALS = ["<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>", "<|call|>"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.sampled_from(SPECIALS)), max_size=12))
def test_tokenizer_matches_harmony_id_for_id(tokenizer, encoding, pieces):
    text = "".join(pieces)
    assert tokenizer.encode(text, add_special_tokens=False) == encoding.encode(text, allowed_special="all")


def test_vocab_candidate_with_the_wrong_hash_is_refused(tmp_path, monkeypatch, assets):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / assets_module.VOCAB_FILENAME).write_text("not the vocab")
    monkeypatch.setenv("TIKTOKEN_ENCODINGS_BASE", str(bad))
    monkeypatch.delenv("TIKTOKEN_RS_CACHE_DIR", raising=False)
    monkeypatch.setattr(assets_module, "_vocab_candidates", lambda: [bad / assets_module.VOCAB_FILENAME])
    with pytest.raises(HarnessError, match="harness assets --provision"):
        assets_module.vocab_path(provision=False)
    good = tmp_path / "good"
    good.mkdir()
    shutil.copyfile(assets.vocab_path, good / assets_module.VOCAB_FILENAME)
    monkeypatch.setattr(assets_module, "_vocab_candidates", lambda: [good / assets_module.VOCAB_FILENAME])
    found = assets_module.vocab_path(provision=False)
    assert found.parent.parent == tmp_path / "cache"
    assert assets_module.sha256_file(found) == assets_module.VOCAB_SHA256


def test_a_local_model_directory_resolves(assets):
    resolved = assets_module.resolve(str(assets.model_dir))
    assert resolved.source == "local-path"
    assert resolved.template_sha256 == assets_module.TEMPLATE_SHA256
    assert resolved.model_dir == assets.model_dir


def test_assets_command_lists_every_file_with_hashes(assets):
    done = run_harness("assets", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    names = {row["name"]: row for row in info["files"]}
    assert set(names) == {"vocab", "chat_template", "tokenizer", "model"}
    assert names["vocab"]["sha256"] == assets_module.VOCAB_SHA256
    assert info["revision"] == assets.revision
    table = run_harness("assets")
    assert table.returncode == 0 and f"revision {assets.revision}" in table.stdout


def test_a_model_that_is_nowhere_is_one_clear_line(tmp_path, assets):
    (tmp_path / "hub").mkdir()
    done = run_harness("assets", "--model", "openai/gpt-oss-safeguard-20b",
                       env={"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    assert_clean_error(done)
    assert "hf download openai/gpt-oss-safeguard-20b" in done.stderr


def test_compare_bad_input_is_one_clear_line(assets):
    assert_clean_error(run_harness("compare", "--scenario", "no-such-scenario", "--no-report"))
    assert_clean_error(run_harness("compare", "--profile", "offline", "--backends", "nope", "--no-report",
                                   "--limit", "1"))
    assert_clean_error(run_harness("compare", "--profile", "offline", "--repeats", "0", "--no-report"))


def test_the_provisioned_model_revision_is_its_training_recipe(assets, tmp_path):
    from harness.assets import tiny_model_revision
    from harness.tiny_model import TINY_MODEL_VERSION, recipe_hash

    # in every result-store key of the offline backends: a retrained model never reuses an older one's answers
    assert assets.revision == f"{TINY_MODEL_VERSION}.{recipe_hash()}+seed0"
    (tmp_path / "tiny_model.json").write_text(json.dumps({"version": "harmony-v0", "recipe": "abc", "seed": 3}))
    assert tiny_model_revision(tmp_path) == "harmony-v0.abc+seed3"
    assert tiny_model_revision(tmp_path / "missing") is None


def test_the_recipe_hash_follows_the_architecture(monkeypatch):
    """Changing the architecture (as head_dim 16 -> 64 did) changes the recipe, so provisioning retrains."""
    from harness.tiny_model import architecture, recipe_hash

    before = recipe_hash()
    original = architecture.tiny_config

    def wider():
        config = original()
        config.head_dim = 128
        return config

    monkeypatch.setattr(architecture, "tiny_config", wider)
    assert recipe_hash() != before


def test_model_row_hashes_the_weights(assets, tmp_path):
    from harness.assets import sha256_file, weights_sha256

    row = next(r for r in assets.records() if r.name == "model")
    assert row.sha256 == sha256_file(assets.model_dir / "model.safetensors")  # retrained weights show a new hash
    # an HF cache snapshot links the weights to a blob named by their sha256: read from the name, not the bytes
    blob = tmp_path / "blobs" / ("ab" * 32)
    blob.parent.mkdir()
    blob.write_bytes(b"not really weights")
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "model.safetensors").symlink_to(blob)
    assert weights_sha256(snapshot) == "ab" * 32
    (snapshot / "config.json").write_text("{}")
    (snapshot / "model.safetensors").unlink()
    assert weights_sha256(snapshot) == sha256_file(snapshot / "config.json")  # sharded or absent: the config
