"""Which renderer did a backend use? Wire analysis of captured flows and live count-fingerprinting.

    analyse_flows(flows, renderers, date) -> list[FlowVerdict]      captured requests vs every renderer
    await fingerprint_backend(config, renderers=[...]) -> FingerprintResult   probes through a live backend
    select_probes(PROBES, renderers, date=...) -> (kept, dropped)   probes that separate renderers by count
"""

from harness.fingerprint.analysis import (
    FlowVerdict,
    Observed,
    PromptMatch,
    RendererMatch,
    analyse_flows,
    match_prompt,
    match_request,
)
from harness.fingerprint.probes import PROBES, Probe, ProbeCheck, check_probes, select_probes
from harness.fingerprint.runner import FingerprintResult, ProbeResult, candidate_dates, fingerprint_backend

__all__ = ["PROBES", "FingerprintResult", "FlowVerdict", "Observed", "Probe", "ProbeCheck", "ProbeResult",
           "PromptMatch", "RendererMatch", "analyse_flows", "candidate_dates", "check_probes", "fingerprint_backend",
           "match_prompt", "match_request", "select_probes"]
