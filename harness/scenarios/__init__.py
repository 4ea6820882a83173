"""Scenarios: a policy, a prompt format, cases with gold labels, and a label parser (see scenarios/README.md)."""

from harness.scenarios._load import available_scenarios, load_scenario, resolve_path, scenario_dirs
from harness.scenarios._model import PROMPT_FORMATS, Case, Scenario, build_messages, harmony_preamble

__all__ = ["PROMPT_FORMATS", "Case", "Scenario", "available_scenarios", "build_messages", "harmony_preamble",
           "load_scenario", "resolve_path", "scenario_dirs"]
