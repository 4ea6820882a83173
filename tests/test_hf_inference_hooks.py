"""hf-inference stays on huggingface_hub's public API: the names it relies on exist, it uses no private name, and
its session factory really carries the proxy, the CA bundle, the case header and the raw body (real local servers,
and a real mitmdump). An upgrade of huggingface_hub that breaks this fails here, naming the installed version."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import json
from pathlib import Path

import huggingface_hub
import pytest
from conftest import free_port

from harness.backends import hf_inference
from harness.backends.base import BackendConfig, BackendContext, create_backend
from harness.capture.chat_server import ChatServer, self_signed_cert
from harness.errors import BackendError, HarnessError
from harness.request import ChatRequest

MODULE = Path(hf_inference.__file__)
REQUEST = ChatRequest.from_body({"messages": [{"role": "system", "content": "Policy: spam is 1"},
                                              {"role": "user", "content": "buy pills now"}],
                                 "reasoning_effort": "low"})
# Private hooks an earlier version of the backend used; flagged even if huggingface_hub drops them.
KNOWN_HOOKS = {"_get_async_client", "_async_client", "_inner_post"}


def outdated(name: str) -> str:
    return (f"huggingface_hub {huggingface_hub.__version__} moved/removed {name}: "
            f"harness/backends/hf_inference.py must be updated")


def resolve(dotted: str):
    """The object a dotted name names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            target = getattr(target, attr)
        return target
    raise ImportError(dotted)


def hf_config(base_url: str, **kwargs) -> BackendConfig:
    return BackendConfig(name="hf", kind="hf-inference", base_url=base_url, model="openai/gpt-oss-safeguard-20b",
                         **kwargs)


async def complete(backend, correlation: str):
    return await backend.complete(REQUEST, correlation=correlation)


def run(configs_and_calls, context: BackendContext):
    """One backend per (config, correlations), every call made concurrently in one loop; results in order."""
    async def go():
        backends = [create_backend(config, context) for config, _ in configs_and_calls]
        try:
            calls = [complete(b, c) for b, (_, cases) in zip(backends, configs_and_calls) for c in cases]
            return await asyncio.gather(*calls)
        finally:
            for backend in backends:
                await backend.aclose()

    return asyncio.run(go())


# --- the API surface -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", hf_inference.PUBLIC_API)
def test_public_api_exists(name):
    assert not any(part.startswith("_") for part in name.split(".")), f"{name} is not public"
    try:
        resolve(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{outdated(name)} ({exc})")


def test_client_takes_the_arguments_we_pass():
    from huggingface_hub import AsyncInferenceClient

    init = set(inspect.signature(AsyncInferenceClient.__init__).parameters)
    for name in ("base_url", "provider", "api_key", "timeout"):
        assert name in init, outdated(f"AsyncInferenceClient(..., {name}=)")
    chat = set(inspect.signature(AsyncInferenceClient.chat_completion).parameters)
    for name in ("messages", "model", "extra_body", *hf_inference._CLIENT_PARAMS):
        assert name in chat, outdated(f"AsyncInferenceClient.chat_completion(..., {name}=)")


def private_attributes() -> set[str]:
    """Private (non-dunder) names of the huggingface_hub client, on the class and on an instance."""
    from huggingface_hub import AsyncInferenceClient

    names = set(dir(AsyncInferenceClient)) | set(vars(AsyncInferenceClient()))
    return {n for n in names if is_private(n)} | KNOWN_HOOKS


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def private_uses(source: str, private_attrs: set[str]) -> list[str]:
    """Every private huggingface_hub name `source` touches: imports from private modules or of private names,
    private attributes of huggingface_hub modules or of its client, overrides of its private methods, and the
    same names spelled as strings (getattr, import_module)."""
    tree = ast.parse(source)
    found, hf_names = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in (a for a in node.names if a.name.split(".")[0] == "huggingface_hub"):
                if any(is_private(p) for p in alias.name.split(".")):
                    found.append(f"import {alias.name}")
                hf_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "huggingface_hub":
            for alias in node.names:
                if any(is_private(p) for p in node.module.split(".")) or is_private(alias.name):
                    found.append(f"from {node.module} import {alias.name}")
                hf_names.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if node.attr in private_attrs or (isinstance(root, ast.Name) and root.id in hf_names):
                found.append(f"attribute .{node.attr} (line {node.lineno})")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in private_attrs:
            found.append(f"defines {node.name} (line {node.lineno})")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            dotted = text.startswith("huggingface_hub") and any(is_private(p) for p in text.split("."))
            if dotted or text in private_attrs:
                found.append(f"string {text!r} (line {node.lineno})")
    return found


def test_backend_uses_no_private_huggingface_hub_name():
    found = private_uses(MODULE.read_text(), private_attributes())
    assert not found, (f"harness/backends/hf_inference.py uses private huggingface_hub names {found} (installed "
                       f"{huggingface_hub.__version__}); use public API, or if one is unavoidable, name it here "
                       "with a check that fails when it moves")


def test_the_scan_catches_the_hooks_the_backend_used_to_override():
    old = """
from huggingface_hub import AsyncInferenceClient
from huggingface_hub.utils._http import async_hf_request_event_hook
import huggingface_hub as hh

class Client(AsyncInferenceClient):
    async def _get_async_client(self):
        if self._async_client is None:
            self._async_client = hh.utils._http.get_async_session()
        return getattr(self, "_async_client")

importlib.import_module("huggingface_hub.utils._http")
"""
    found = private_uses(old, private_attributes())
    assert "from huggingface_hub.utils._http import async_hf_request_event_hook" in found
    assert any(f.startswith("defines _get_async_client") for f in found)
    assert any(f.startswith("attribute ._async_client") for f in found)
    assert any(f.startswith("attribute ._http") for f in found)
    assert any(f.startswith("string '_async_client'") for f in found)
    assert any(f.startswith("string 'huggingface_hub.utils._http'") for f in found)
    # ... and the harness's own private names on its own objects are not huggingface_hub's
    assert private_uses("self._client = None\nself._token = x._extra_body", private_attributes()) == []


# --- the session factory, end to end against real local servers ------------------------------------------------


def test_each_backend_gets_its_session_and_each_call_its_case():
    """A proxied and a direct backend called concurrently: each call goes its own backend's way, with its own
    case header, and the body recorded as sent is what arrived."""
    with ChatServer() as proxy, ChatServer() as upstream:
        unreachable = f"http://127.0.0.1:{free_port()}/v1"  # only a forward proxy can answer for it
        context = BackendContext(proxy_url=proxy.base_url.removesuffix("/v1"), extra_headers={"x-run": "r1"})
        proxied, direct = hf_config(unreachable), hf_config(upstream.base_url, capture=False)
        a, c, b = run([(proxied, ["case-a", "case-c"]), (direct, ["case-b"])], context)
    assert sorted(r.headers["x-harness-case"] for r in proxy.received) == ["case-a", "case-c"]
    assert all(r.path == unreachable + "/chat/completions" for r in proxy.received)  # absolute URL: a proxy
    [seen] = upstream.received
    assert seen.headers["x-harness-case"] == "case-b" and seen.path == "/v1/chat/completions"
    for received in [*proxy.received, seen]:
        assert received.headers["x-run"] == "r1"
        assert "authorization" not in received.headers  # no key for a local host: the placeholder is stripped
    assert json.loads(seen.body) == b.sent_body and b.sent_body["reasoning_effort"] == "low"
    assert [x.sent_body for x in (a, c)] == [json.loads(r.body) for r in proxy.received]  # the same request
    assert (a.text, b.text, c.text) == ("ok:2", "ok:2", "ok:2")
    assert b.served_provider == "local-test"  # a response header, read by our response hook


def test_other_huggingface_hub_calls_keep_its_own_session():
    from huggingface_hub import get_async_session

    hf_inference._install_session_factory()
    session = get_async_session()  # outside a backend call
    hooks = session.event_hooks["request"] + session.event_hooks["response"]
    assert hooks and all(h.__module__.startswith("huggingface_hub.") for h in hooks) and session.follow_redirects


def test_huggingface_hub_own_hooks_still_run_in_our_session(monkeypatch):
    """Its request hook refuses calls in offline mode: proof that our session kept it."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with ChatServer() as server, pytest.raises(BackendError) as caught:
        run([(hf_config(server.base_url), ["case-1"])], BackendContext())
    assert caught.value.cause == "client-error" and "HF_HUB_OFFLINE" in str(caught.value)
    assert not server.received


def test_a_session_built_elsewhere_fails_loudly_naming_the_version(monkeypatch):
    """What an upgrade that stops calling our factory looks like: an answer that never passed our hooks."""
    import httpx2
    from huggingface_hub import set_async_client_factory

    hf_inference._install_session_factory()  # read huggingface_hub's own session before replacing it
    monkeypatch.setattr(hf_inference, "_install_session_factory", lambda: None)
    set_async_client_factory(httpx2.AsyncClient)
    try:
        with ChatServer() as server, pytest.raises(HarnessError) as caught:
            run([(hf_config(server.base_url), ["case-1"])], BackendContext())
    finally:
        monkeypatch.undo()
        hf_inference._install_session_factory()
    assert f"huggingface_hub {huggingface_hub.__version__} no longer builds its sessions" in str(caught.value)


def test_a_session_shared_between_backends_fails_loudly(monkeypatch):
    """What an upgrade that shares one session between clients looks like: another backend's hooks."""
    from huggingface_hub import set_async_client_factory

    with ChatServer() as server:
        first = create_backend(hf_config(server.base_url), BackendContext())
        hf_inference._install_session_factory()
        shared = first.new_session(hf_inference._hf_session)
        monkeypatch.setattr(hf_inference, "_install_session_factory", lambda: None)
        set_async_client_factory(lambda: shared)
        try:
            with pytest.raises(HarnessError) as caught:
                run([(hf_config(server.base_url), ["case-1"])], BackendContext())
        finally:
            monkeypatch.undo()
            hf_inference._install_session_factory()
        assert not server.received
    assert "shares one HTTP session" in str(caught.value) and huggingface_hub.__version__ in str(caught.value)


def test_capture_false_goes_direct():
    with ChatServer() as proxy:
        context = BackendContext(proxy_url=proxy.base_url.removesuffix("/v1"))
        with pytest.raises(BackendError) as caught:
            run([(hf_config(f"http://127.0.0.1:{free_port()}/v1", capture=False), ["case-1"])], context)
    assert caught.value.cause == "connection" and not proxy.received


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_through_a_real_capture_proxy(tmp_path, scheme):
    """The run's mitmdump and CA bundle: the flow is linked to its case and holds the body as sent."""
    from harness.capture.proxy import ProxySession, read_flows

    cert = self_signed_cert(tmp_path / "upstream")
    with ChatServer(tls=cert if scheme == "https" else None) as server, \
            ProxySession(tmp_path / "capture", upstream_ca=cert[0]) as proxy:
        context = BackendContext(proxy_url=proxy.proxy_url, ca_bundle=str(proxy.ca_bundle))
        [completion] = run([(hf_config(server.base_url), [f"spam-{scheme}/0/hf"])], context)
    [seen] = server.received
    [flow] = [f for f in read_flows(proxy.flows_path) if f["request"]["path"].endswith("/chat/completions")]
    assert flow["case"] == {"raw": f"spam-{scheme}/0/hf", "case_id": f"spam-{scheme}", "repeat": 0, "backend": "hf"}
    assert "x-harness-case" not in seen.headers  # the proxy strips it before forwarding
    assert flow["request"]["body"]["text"].encode() == seen.body
    assert json.loads(seen.body) == completion.sent_body and completion.text == "ok:2"
    assert flow["server"]["tls"] is (scheme == "https")
