"""The public home of scenarios: `from harness.scenario import load_scenario, Scenario, Case`.

The implementation lives in the `harness.scenarios` package (file reading, datasets, records).
"""

from harness.scenarios import (
    PROMPT_FORMATS,
    Case,
    Scenario,
    available_scenarios,
    build_messages,
    harmony_preamble,
    load_scenario,
    resolve_path,
    scenario_dirs,
)

__all__ = ["PROMPT_FORMATS", "Case", "Scenario", "available_scenarios", "build_messages", "harmony_preamble",
           "load_scenario", "resolve_path", "scenario_dirs"]
