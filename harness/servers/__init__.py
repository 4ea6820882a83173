"""The project's own local servers, each bound to 127.0.0.1 on a free port, in-process or as a subprocess.

- `harmony-reference` (`harmony_server`): vLLM-shaped OpenAI-compatible server on CPU, rendering with the
  project's `vllm` renderer; returns prompt/completion token ids, reasoning, tool calls.
- `fault` (`fault_server`): scripted 429 / 5xx / hang / malformed / html / dropped-connection answers.
- `roost` (`roost_server`): the ROOST Model Community demo server's `{reasoning, verdict}` shape.
- `transformers-serve`: `transformers serve` offline on a local model (launcher only).

Use `harness.servers.launch.start(kind, **opts) -> ServerHandle`, or `harness serve KIND` in a terminal.
"""
