"""The example CI workflow and `make check`: the YAML parses, it does what the issue asks (nightly + on demand,
HF token from secrets, cached store, artifact always uploaded), and every `harness` command in it exists and
accepts its arguments; the check and baseline commands really run on a tiny run folder."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_harness
from test_check_unit import STABLE, make_run, table

from harness.cli import build_parser, main

WORKFLOW = ROOT / ".github" / "workflows" / "provider-drift.yml"
HARNESS = re.compile(r"(?:^|\s)(?:\S*/)?harness\s+(.*)$")


def load_workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def job_env(workflow: dict) -> dict[str, str]:
    """The job env with GitHub expressions evaluated the way a scheduled run sees them (inputs unset)."""
    def evaluate(value: str) -> str:
        def expression(match: re.Match) -> str:
            inner = match.group(1).strip()
            default = re.search(r"\|\|\s*'([^']*)'", inner)
            return default.group(1) if default else ""
        return re.sub(r"\$\{\{(.*?)\}\}", expression, str(value))

    env = {}
    for key, value in workflow["jobs"]["drift"]["env"].items():
        env[key] = evaluate(value)
    return env


def harness_commands(workflow: dict) -> list[list[str]]:
    """argv (after `harness`) of every harness invocation in the steps, with the job env substituted."""
    env = job_env(workflow)
    commands = []
    for step in workflow["jobs"]["drift"]["steps"]:
        for line in str(step.get("run", "")).splitlines():
            match = HARNESS.search(line.strip())
            if not match or line.strip().startswith("#"):
                continue
            text = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), match.group(1))
            commands.append(shlex.split(text))
    return commands


def test_workflow_triggers_secrets_cache_and_artifact():
    workflow = load_workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "schedule" in triggers and triggers["schedule"][0]["cron"]
    assert "workflow_dispatch" in triggers
    job = workflow["jobs"]["drift"]
    assert job["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    steps = job["steps"]
    runs = [str(step.get("run", "")) for step in steps]
    assert any(run.strip() == "make setup" for run in runs)
    cache = next(step for step in steps if str(step.get("uses", "")).startswith("actions/cache"))
    assert cache["with"]["path"].endswith("results.sqlite")
    assert "date" in cache["with"]["key"] and "restore-keys" not in cache["with"]
    upload = next(step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert job_env(workflow)["RUN"] in upload["with"]["path"]
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", WORKFLOW.read_text())  # no token in the file itself


def test_workflow_runs_compare_with_config_then_check_with_junit():
    commands = harness_commands(load_workflow())
    names = [argv[0] for argv in commands]
    assert names.index("compare") < names.index("check")
    compare = commands[names.index("compare")]
    assert compare[compare.index("--config") + 1] == "harness.toml"
    check = commands[names.index("check")]
    assert "--junit" in check and "--baseline" in check


def test_every_harness_command_in_the_workflow_parses():
    parser = build_parser()
    for argv in harness_commands(load_workflow()):
        args = parser.parse_args(argv)  # an unknown option or a bad value would exit 2 here
        assert callable(args.func), argv


@pytest.mark.parametrize("position", [0, 1, 2])
def test_every_harness_command_in_the_workflow_has_help(position):
    commands = harness_commands(load_workflow())
    if position >= len(commands):
        pytest.skip("fewer commands")
    argv = commands[position]
    subcommand = [a for a in argv if not a.startswith("-")][:2 if argv[0] == "baseline" else 1]
    done = run_harness(*subcommand, "--help")
    assert done.returncode == 0, done.stderr
    for option in (a for a in argv if a.startswith("--")):
        assert option in done.stdout, (option, argv)


def test_workflow_gate_commands_run_on_a_tiny_run(tmp_path, monkeypatch, capsys):
    """The gate step as written: without a baseline it saves one; with the committed one it checks."""
    workflow = load_workflow()
    env = job_env(workflow)
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    make_run(tmp_path / env["RUN"], table({"hf-groq": STABLE, "hf-auto": STABLE}),
             providers={"hf-groq": "groq", "hf-auto": "groq"})
    commands = {argv[0]: argv for argv in harness_commands(workflow)}
    assert main(commands["baseline"]) == 0
    saved = Path(commands["baseline"][commands["baseline"].index("--to") + 1])
    Path(env["BASELINE"]).parent.mkdir(parents=True, exist_ok=True)
    saved.rename(env["BASELINE"])
    assert main(commands["check"]) == 0, capsys.readouterr()
    junit = Path(commands["check"][commands["check"].index("--junit") + 1])
    assert junit.exists() and "testcase" in junit.read_text()


def test_make_check_target_is_a_valid_check_command(tmp_path, capsys):
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^check:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    line = next(row for row in recipe.splitlines() if "harness" in row)
    run = make_run(tmp_path / "run", table({"b": STABLE}))
    baseline = tmp_path / "spam-offline.json"
    assert main(["baseline", "save", str(run), "--to", str(baseline)]) == 0
    text = line.replace("$(BIN)/", "").replace("$(RUN)", str(run))
    text = re.sub(r"\$\(or \$\(BASELINE\),[^)]*\)", str(baseline), text)
    argv = shlex.split(text)
    assert argv[0] == "harness"
    assert main(argv[1:]) == 0, capsys.readouterr()
    assert (run / "junit.xml").exists()
    default = re.search(r"\$\(or \$\(BASELINE\),([^)]*)\)", line).group(1)
    assert default == "reports/baselines/spam-offline.json" and (ROOT / default).exists()
