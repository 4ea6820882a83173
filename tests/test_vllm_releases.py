"""The vLLM renderers against each release's OWN code: fixtures written by tools/vllm_oracle (make vllm-oracle).

Each `tests/fixtures/vllm/vllm-X.json` holds the prompt ids that vLLM X's `_make_request_with_harmony` produced
for every corpus case (or the error it raised). The renderer of X's range must give the same ids, on the date the
fixture's prompts carry.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.render import available_renderers, get_renderer
from harness.render.vllm import (
    RULES,
    VllmRules,
    release_key,
    release_ranges,
    renderer_for_release,
    rules_for,
)
from harness.request import ChatRequest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIR = ROOT / "tests" / "fixtures" / "vllm"
CORPUS = {case["id"]: case["body"] for case in json.loads((FIXTURE_DIR / "corpus.json").read_text())}
FIXTURES = sorted(FIXTURE_DIR.glob("vllm-*.json"), key=lambda p: release_key(p.stem.removeprefix("vllm-")))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _matrix() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location("vllm_oracle_build", ROOT / "tools" / "vllm_oracle" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MATRIX


def expected_refusal(body: dict, rules: VllmRules) -> bool:
    """The releases of this row refuse the request (ValidationError in create_tool_definition before 0.24)."""
    return rules.tool_description_required and any(
        "description" not in (tool.get("function") or {}) for tool in body.get("tools") or [])


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_the_release_range_renderer_gives_the_release_ids_for_every_case(assets, path):
    fixture = _load(path)
    name = renderer_for_release(fixture["release"])
    rules, renderer = rules_for(name), get_renderer(name, assets)
    assert set(fixture["cases"]) == set(CORPUS), "fixture is stale for the corpus: rerun `make vllm-oracle`"
    differing = []
    for case_id, expected in fixture["cases"].items():
        body = CORPUS[case_id]
        if isinstance(expected, dict):  # the release refused the request
            assert "error" in expected and expected_refusal(body, rules), (case_id, expected)
            continue
        assert not expected_refusal(body, rules), f"{case_id}: expected vLLM {fixture['release']} to refuse it"
        if renderer.render(ChatRequest.from_body(body), date=fixture["date"]) != expected:  # the body as sent
            differing.append(case_id)
    assert not differing, f"{name} differs from vLLM {fixture['release']} on {differing}"


def test_every_fixture_release_maps_to_a_registered_renderer():
    assert FIXTURES, "no fixtures: run `make vllm-oracle`"
    names = set(available_renderers())
    for path in FIXTURES:
        release = _load(path)["release"]
        assert renderer_for_release(release) in names, release


def test_each_fixture_names_its_release_script_harmony_and_date():
    for path in FIXTURES:
        fixture = _load(path)
        assert path.name == f"vllm-{fixture['release']}.json"
        assert fixture["script"] == "tools/vllm_oracle/render_release.py"
        assert (ROOT / fixture["script"]).is_file()
        rules = rules_for(renderer_for_release(fixture["release"]))
        assert fixture["harmony_package"].split("==")[0] == rules.harmony_package.split(">")[0], path.name
        assert fixture["generated"] and fixture["date"] and fixture["source"]
        if rules.reads_start_date_env:
            assert fixture["date_source"] == "VLLM_SYSTEM_START_DATE", path.name
        else:
            assert fixture["date_source"].startswith("today"), path.name


def test_the_table_is_contiguous_and_non_overlapping_over_every_release():
    ranges = release_ranges()
    matrix = _matrix()
    assert [n for n, _, _ in ranges] == [r.name for r in RULES] and len({n for n, _, _ in ranges}) == len(ranges)
    for (_, first, last), (_, nxt, _) in itertools.pairwise(ranges):
        assert release_key(first) <= release_key(last) < release_key(nxt)
        between = [r for r in matrix if release_key(last) < release_key(r) < release_key(nxt)]
        assert not between, f"releases {between} fall between {last} and {nxt}"
    assert ranges[0][1] == matrix[0] and ranges[-1][2] == matrix[-1]
    for release in matrix:  # every release in exactly one row
        assert sum(release_key(f) <= release_key(release) <= release_key(la) for _, f, la in ranges) == 1


def test_every_range_has_fixtures_for_its_first_and_last_release():
    have = {_load(p)["release"] for p in FIXTURES}
    for name, first, last in release_ranges():
        assert {first, last} <= have, name


def test_renderer_for_release_examples_and_bad_input():
    assert renderer_for_release("0.14.1") == "vllm-0.14"
    assert renderer_for_release("0.10.2") == "vllm-0.10"
    assert renderer_for_release("0.32.0") == "vllm"
    assert renderer_for_release("v0.22.1") == "vllm-0.22"
    assert renderer_for_release("0.21.0") == "vllm-0.17"
    assert renderer_for_release("0.11.2.post2") == "vllm-0.11"
    for bad in ("0.9.2", "0.33.0", "latest"):
        with pytest.raises(HarnessError):
            renderer_for_release(bad)


def test_aliases_render_as_their_row(assets):
    request = ChatRequest.from_body(CORPUS["tool-call-result"])
    current = get_renderer("vllm", assets).render(request, date="2025-01-02")
    assert get_renderer("vllm-0.33", assets).render(request, date="2025-01-02") == current
    assert get_renderer("vllm-0.31", assets).render(request, date="2025-01-02") == current
    assert "alias" in get_renderer("vllm-0.33", assets).description


def test_every_corpus_body_is_a_valid_chat_request():
    for case_id, body in CORPUS.items():
        assert ChatRequest.from_body(body).messages, case_id


def test_oss_harmony_header_rewrite_moves_only_tool_result_recipients(assets, encoding):
    from harness.render.harmony import harmony_kit

    kit = harmony_kit()
    messages = [kit.system(date="2025-01-02", effort=None), kit.text("user", "to=assistant in text"),
                kit.text("assistant", "{}", channel="commentary", recipient="functions.f", content_type="json"),
                kit.tool_result("f", "42"), kit.tool_result("g", "7", recipient=None)]
    ids = kit.render(messages)
    rewritten = kit.oss_harmony_tool_result_headers(ids)
    assert sorted(rewritten) == sorted(ids) and len(rewritten) == len(ids)
    text = encoding.decode(rewritten)
    assert "<|start|>functions.f<|channel|>commentary to=assistant<|message|>42<|end|>" in text
    assert "<|start|>functions.g<|channel|>commentary<|message|>7<|end|>" in text  # no recipient: untouched
    assert "<|start|>assistant to=functions.f<|channel|>commentary json<|message|>" in text  # calls untouched
    assert "<|start|>user<|message|>to=assistant in text<|end|>" in text
    assert kit.oss_harmony_tool_result_headers(rewritten) == rewritten  # already in the fork's order
