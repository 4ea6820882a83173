"""`vllm@URL`: ask a running vLLM server which prompt ids it would feed the model, instead of modelling it.

vLLM 0.20+ answers `POST /v1/chat/completions/render` with the prompt ids and generates nothing; 0.32 serves it
only with `--enable-scale-out` (else 403). Where the render endpoint is off or missing, the renderer falls back to
one chat completion with `max_tokens: 1` and `return_token_ids: true` (vLLM >= 0.10.2), whose `prompt_token_ids`
are the same ids. A server is recognised as vLLM by `GET /version`; the model asked for is the first one
`GET /v1/models` lists. The `Current date:` line is the server's own (`VLLM_SYSTEM_START_DATE` or its clock):
the `date` passed to `render` cannot change it, so a render-diff on another date names `date-line`.
"""

from __future__ import annotations

from typing import Any

import httpx

from harness.errors import HarnessError
from harness.render.base import check_date, renderer_family
from harness.request import ChatRequest

RENDER_PATH = "/v1/chat/completions/render"
RENDER_OFF = (403, 404, 405, 501)  # disabled (--enable-scale-out), absent (< 0.20), or not for this model


class ServedVllmRenderer:
    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.url = url
        self.name = f"vllm@{url}"
        self.base = url.rstrip("/").removesuffix("/v1")
        self.timeout = timeout
        self.description = f"the prompt ids the vLLM server at {url} reports (its render endpoint)"
        self.version: str | None = None
        self.model: str | None = None
        self.used: str | None = None  # which endpoint gave the ids last: "render" or "chat"

    def render(self, request: ChatRequest, *, date: str) -> list[int]:
        check_date(date)  # the server writes its own date; a bad one is still bad input
        with httpx.Client(base_url=self.base, timeout=self.timeout, trust_env=False) as client:
            if self.model is None:
                self._identify(client)
            body = {**request.to_body(), "model": self.model}
            response = self._post(client, RENDER_PATH, body)
            if response.status_code in RENDER_OFF:
                response = self._post(client, "/v1/chat/completions",
                                      {**body, "max_tokens": 1, "return_token_ids": True})
                ids = _json(response, self.url).get("prompt_token_ids")
                self.used = "chat"
            else:
                ids = _json(response, self.url).get("token_ids")
                self.used = "render"
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise HarnessError(f"{self.url} returned no prompt token ids (vLLM {self.version}; "
                               "return_token_ids needs vLLM >= 0.10.2)")
        return ids

    def _identify(self, client: httpx.Client) -> None:
        version = self._get(client, "/version")
        if version.status_code != 200 or "version" not in _json_or_empty(version):
            raise HarnessError(f"{self.url} is not a vLLM server (GET /version answered {version.status_code})")
        self.version = str(version.json()["version"])
        models = _json(self._get(client, "/v1/models"), self.url).get("data") or []
        if not models or not isinstance(models[0], dict) or "id" not in models[0]:
            raise HarnessError(f"{self.url}: GET /v1/models lists no model")
        self.model = models[0]["id"]
        self.description = f"vLLM {self.version} at {self.url} (model {self.model}), asked for its prompt ids"

    def _get(self, client: httpx.Client, path: str) -> httpx.Response:
        return self._send(client, "GET", path, None)

    def _post(self, client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
        return self._send(client, "POST", path, body)

    def _send(self, client: httpx.Client, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        try:
            return client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise HarnessError(f"vllm@{self.url}: cannot reach {self.base}{path} ({type(exc).__name__}: "
                               f"{str(exc) or 'no answer'})") from None


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json(response: httpx.Response, url: str) -> dict[str, Any]:
    data = _json_or_empty(response)
    if response.status_code != 200:
        message = data.get("error", {}).get("message") if isinstance(data.get("error"), dict) else None
        message = message or data.get("message") or response.text[:200]
        raise HarnessError(f"{url}: {response.request.method} {response.request.url.path} answered "
                           f"{response.status_code}: {' '.join(str(message).split())}")
    return data


@renderer_family("vllm", "the prompt ids a running vLLM server reports for the request (vllm@http://HOST:PORT)")
def _served_vllm(where: str, assets) -> ServedVllmRenderer:
    if not where.startswith(("http://", "https://")):
        raise HarnessError(f"vllm@{where}: the server must be an http(s) URL, e.g. vllm@http://127.0.0.1:8000")
    try:
        httpx.URL(where)
    except httpx.InvalidURL as exc:
        raise HarnessError(f"vllm@{where}: not a valid URL ({exc})") from None
    return ServedVllmRenderer(where)
