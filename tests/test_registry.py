"""One registry mechanism (harness.registry) for renderers, renderer families, backend kinds and label kinds."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.registry import Registry


def test_a_name_is_registered_once_with_its_description():
    registry = Registry("widget")

    @registry.register("a", "the first")
    def first():
        return 1

    registry.register("a", "the first")(first)  # the same factory again (a module imported twice) is fine
    with pytest.raises(ValueError, match="widget 'a' is registered twice"):
        registry.register("a", "another")(lambda: 2)
    assert registry.describe() == {"a": "the first"} and registry.get("a").factory() == 1
    with pytest.raises(HarnessError, match=r"unknown widget 'b'; known: a"):
        registry.get("b")


def test_every_registry_of_the_harness_is_one():
    from harness.backends.base import BACKENDS, available_backend_kinds
    from harness.labels._registry import LABEL_PARSERS
    from harness.render import available_renderers
    from harness.render.base import FAMILIES, RENDERERS

    for registry in (RENDERERS, FAMILIES, BACKENDS, LABEL_PARSERS):
        assert isinstance(registry, Registry)
    assert available_backend_kinds() == BACKENDS.names()  # (loads the backend modules)
    assert {"transformers-harmony", "openai-compatible", "hf-inference", "roost"} <= set(BACKENDS.names())
    assert {"harmony", "hf-template", "vllm", "vllm-0.14"} <= set(available_renderers())
    assert FAMILIES.names() == ["vllm"]
    assert set(LABEL_PARSERS.names()) == {"regex", "json-field", "enum", "likert", "module"}
    for registry in (RENDERERS, BACKENDS, LABEL_PARSERS):  # every entry says what it is
        assert all(registry.describe().values()), registry.what
