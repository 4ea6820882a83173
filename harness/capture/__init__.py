"""Wire capture: a mitmproxy addon (runs inside `mitmdump`), the proxy lifecycle, and readers of what it wrote.

    from harness.capture import ProxySession, read_flows, llm_calls, compare_payloads
"""

from harness.capture.addon import CASE_HEADER
from harness.capture.calls import LlmCall, llm_calls, pinned_provider, served_provider
from harness.capture.params import Finding, compare_payloads, finding_classes
from harness.capture.proxy import ProxyDied, ProxySession, read_flows

__all__ = ["CASE_HEADER", "Finding", "LlmCall", "ProxyDied", "ProxySession", "compare_payloads", "finding_classes",
           "llm_calls", "pinned_provider", "read_flows", "served_provider"]
