"""The project's own local servers, each bound to 127.0.0.1 on a free port, in-process or as a subprocess.

- `harmony-reference` (`harmony_server`): the project's Harmony server in vLLM's response shape, for fault tests
  (scripted completions, an ignored effort); returns prompt/completion token ids, reasoning, tool calls.
- `fault` (`fault_server`): scripted 429 / 5xx / hang / malformed / html / dropped-connection answers.
- `roost` (`roost_server`): the ROOST Model Community demo server's `{reasoning, verdict}` shape.
- `transformers-serve`: `transformers serve` offline on a local model (launcher only).
- `vllm` (`vllm_server`): the real vLLM OpenAI server from `.venv-vllm` (launcher only).

Use `harness.servers.launch.start(kind, **opts) -> ServerHandle`, or `harness serve KIND` in a terminal.
"""
