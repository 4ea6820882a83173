"""Token-file loading and the `harness parse` command as a user runs it."""

from __future__ import annotations

import json

import pytest
from conftest import assert_clean_error, run_harness

from harness.errors import HarnessError
from harness.tokens_io import load_token_ids, load_tokens_or_text

CONVERSATION = ("<|start|>user<|message|>Is this spam?<|end|><|start|>assistant<|channel|>analysis<|message|>Check."
                "<|end|><|start|>assistant<|channel|>final<|message|>no<|return|>")


@pytest.fixture(scope="module")
def conversation_ids(encoding) -> list[int]:
    return list(encoding.encode(CONVERSATION, allowed_special="all"))


@pytest.mark.parametrize("layout", ["array", "token_ids", "prompt_token_ids", "whitespace"])
def test_accepted_formats(tmp_path, conversation_ids, layout):
    path = tmp_path / "ids.txt"
    if layout == "array":
        path.write_text(json.dumps(conversation_ids))
    elif layout == "whitespace":
        lines = [" ".join(map(str, conversation_ids[i:i + 7])) for i in range(0, len(conversation_ids), 7)]
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text(json.dumps({"model": "x", layout: conversation_ids}))
    assert load_token_ids(path) == conversation_ids
    assert load_tokens_or_text(path) == conversation_ids


def test_harmony_text_is_encoded_with_specials(tmp_path, conversation_ids):
    path = tmp_path / "conversation.txt"
    path.write_text(CONVERSATION, encoding="utf-8")
    assert load_tokens_or_text(path) == conversation_ids
    with pytest.raises(HarnessError, match="not an integer token id"):
        load_token_ids(path)  # text is only accepted where the caller asks for it


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("", "empty"),
    ("[1, 2", "not valid JSON"),
    ("[]", "holds no token ids"),
    ("[1, 999999]", "token id 999999 is outside the vocab (0..201087)"),
    ("[1, -2]", "token id -2 is outside the vocab"),
    ('[1, "2"]', 'item 1 is "2", not an integer token id'),
    ("[1, 2.0]", "item 1 is 2.0"),
    ("[true]", "item 0 is true"),
    ('{"ids": [1]}', "no `token_ids` or `prompt_token_ids`"),
    ('{"token_ids": "1 2"}', "must be a JSON array"),
    ("1 2 x3", "'x3' is not an integer"),
    ("1 2 201088", "token id 201088 is outside the vocab"),
])
def test_bad_files_name_the_file_in_one_line(tmp_path, content, message):
    path = tmp_path / "a.json"
    if content is not None:
        path.write_text(content)
    for loader in (load_token_ids, load_tokens_or_text):
        with pytest.raises(HarnessError) as caught:
            loader(path)
        text = str(caught.value)
        assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_directory_and_binary_files(tmp_path):
    with pytest.raises(HarnessError, match="is a directory"):
        load_token_ids(tmp_path)
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(HarnessError, match="not UTF-8"):
        load_tokens_or_text(binary)


def test_cli_parse_json(tmp_path, conversation_ids):
    path = tmp_path / "ids.json"
    path.write_text(json.dumps({"token_ids": conversation_ids}))
    done = run_harness("parse", str(path), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["unparsed"] == []
    assert [(m["role"], m["channel"], m["content"], m["terminator"]) for m in data["messages"]] == [
        ("user", None, "Is this spam?", "<|end|>"), ("assistant", "analysis", "Check.", "<|end|>"),
        ("assistant", "final", "no", "<|return|>")]
    for row in data["messages"]:
        assert {"recipient", "content_type"} <= set(row)


def test_cli_parse_malformed_text_and_table_view(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("stray<|start|>robot<|message|>beep<|start|>user<|message|>hi<|end|>", encoding="utf-8")
    done = run_harness("parse", str(path), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    first = data["messages"][0]
    assert data["unparsed"] == [{"start": 0, "end": first["start"], "text": "stray"}]
    assert first["role"] == "robot"
    assert {"unknown-role", "missing-end"} <= set(first["anomalies"])
    table = run_harness("parse", str(path), env={"COLUMNS": "160"})
    assert table.returncode == 0, table.stderr
    assert "robot" in table.stdout and "unparsed" in table.stdout and "stray" in table.stdout


@pytest.mark.parametrize("content", [None, "[1, 999999]", "[]", '{"x": 1}'])
def test_cli_parse_bad_input_exits_2(tmp_path, content):
    path = tmp_path / "a.json"
    if content is not None:
        path.write_text(content)
    done = run_harness("parse", str(path), "--json")
    assert_clean_error(done, 2)
    assert str(path) in done.stderr and done.stdout == ""
