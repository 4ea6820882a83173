"""Where the vocab, chat template, tokenizer and model come from, with sha256 fingerprints.

Resolution order for a model:
1. a local directory (a path given as the model),
2. the real snapshot in the Hugging Face cache (`openai/gpt-oss-safeguard-20b`, `openai/gpt-oss-20b`, ...),
   looked up with `local_files_only=True` (nothing is downloaded),
3. offline provisioning into a project-local cache from registry packages: the o200k vocab from the `litellm`
   wheel (sha256 verified), the gpt-oss chat template from the `llama-cpp-python` sdist (sha256 verified), a
   transformers tokenizer built from the vocab and checked id for id against openai-harmony. The tiny gpt-oss
   (real GptOss architecture, real tokenizer and template; random init then ~30 s of synthetic Harmony training)
   for tests and the offline default is built a layer above, by `harness.tiny_model.provision()`: this module
   never imports `harness.tiny_model`, it only reads the marker the build writes (`tiny_model_revision`).

openai-harmony always needs the o200k vocab file; `harmony_encoding()` points it at the verified local copy.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import HarnessError

VOCAB_FILENAME = "o200k_base.tiktoken"
VOCAB_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# tiktoken-rs caches the vocab under the sha1 of its download URL; litellm ships it under the same name.
VOCAB_CACHE_NAME = "fb374d419588a4632f3f557e76b4b70aebbca790"
VOCAB_PACKAGE = "litellm==1.109.1"
VOCAB_MEMBER = f"litellm/litellm_core_utils/tokenizers/{VOCAB_CACHE_NAME}"

TEMPLATE_FILENAME = "chat_template.jinja"
TEMPLATE_PACKAGE, TEMPLATE_VERSION = "llama-cpp-python", "0.3.36"
TEMPLATE_SDIST = f"llama_cpp_python-{TEMPLATE_VERSION}.tar.gz"
TEMPLATE_SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
TEMPLATE_MEMBER = f"llama_cpp_python-{TEMPLATE_VERSION}/vendor/llama.cpp/models/templates/openai-gpt-oss-120b.jinja"
TEMPLATE_SHA256 = "a4c9919cbbd4acdd51ccffe22da049264b1b73e59055fa58811a99efbd7c8146"

TINY_MODEL_ID = "tiny-gpt-oss"
OFFLINE_NAMES = (None, "", TINY_MODEL_ID, "offline")  # the model names that mean the offline assets
# Written next to the tiny model's weights by harness/tiny_model/build.py: its training report and recipe hash.
MARKER_FILE = "tiny_model.json"

# o200k_base split pattern (tiktoken), used to build the transformers tokenizer from the raw vocab.
O200K_PATTERN = "|".join([  # noqa: FLY002 -- one alternative per line reads like tiktoken's source
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"\s*[\r\n]+",
    r"\s+(?!\S)",
    r"\s+",
])
FIRST_SPECIAL_ID, VOCAB_SIZE = 199998, 201088


@dataclass(frozen=True)
class AssetRecord:
    """One resolved file: what it is, where it is, where it came from, and its sha256."""

    name: str
    path: str
    source: str
    sha256: str | None


@dataclass(frozen=True)
class Assets:
    model_id: str  # hub id, local path, or TINY_MODEL_ID
    source: str  # "local-path" | "hf-cache" | "provisioned"
    revision: str | None
    vocab_path: Path
    template_path: Path
    template_sha256: str
    tokenizer_dir: Path
    model_dir: Path | None  # weights, when the source has them

    @property
    def template(self) -> str:
        return self.template_path.read_text(encoding="utf-8")

    def records(self) -> list[AssetRecord]:
        rows = [AssetRecord("vocab", str(self.vocab_path), "o200k_base", sha256_file(self.vocab_path)),
                AssetRecord("chat_template", str(self.template_path), self.source, self.template_sha256),
                AssetRecord("tokenizer", str(self.tokenizer_dir), self.source,
                            _sha256_if_exists(self.tokenizer_dir / "tokenizer.json"))]
        if self.model_dir is not None:
            rows.append(AssetRecord("model", str(self.model_dir), self.source, weights_sha256(self.model_dir)))
        return rows

    def fingerprint(self) -> dict[str, str | None]:
        """What changes a render or an answer: goes into result-store keys and reports."""
        return {"model_id": self.model_id, "source": self.source, "revision": self.revision,
                "template_sha256": self.template_sha256, "harmony_version": harmony_version()}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


HASH_WEIGHTS_UP_TO = 1 << 30  # bytes: the tiny model is hashed; a 20B checkpoint is not read for a table


def weights_sha256(model_dir: Path) -> str | None:
    """sha256 of the weights: from the HF cache blob name (LFS blobs are named by it), else by reading a single
    small weights file, else of config.json (the weights are too large to read here)."""
    weights = Path(model_dir) / "model.safetensors"
    if weights.is_symlink():
        blob = weights.resolve().name
        if len(blob) == 64 and all(c in "0123456789abcdef" for c in blob):
            return blob
    if weights.is_file() and weights.stat().st_size <= HASH_WEIGHTS_UP_TO:
        return sha256_file(weights)
    return _sha256_if_exists(Path(model_dir) / "config.json")


def _sha256_if_exists(path: Path) -> str | None:
    return sha256_file(path) if path.exists() else None


def harmony_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openai-harmony")
    except PackageNotFoundError:
        return None


def cache_dir() -> Path:
    """Project-local cache: $HARNESS_CACHE, else .cache/harness at the project root (or ~/.cache/gpt-oss-harness)."""
    if os.environ.get("HARNESS_CACHE"):
        return Path(os.environ["HARNESS_CACHE"]).expanduser().resolve()
    project_root = Path(__file__).resolve().parent.parent
    if (project_root / "pyproject.toml").exists():
        return project_root / ".cache" / "harness"
    return Path.home() / ".cache" / "gpt-oss-harness"


# ---------------------------------------------------------------------------------------------------------------
# vocab


def vocab_path(provision: bool = True) -> Path:
    """The verified o200k vocab; provisions it from the registry when `provision` and it is missing."""
    target = cache_dir() / "encodings" / VOCAB_FILENAME
    if target.exists() and sha256_file(target) == VOCAB_SHA256:
        return target
    for candidate in _vocab_candidates():
        if candidate.is_file() and sha256_file(candidate) == VOCAB_SHA256:
            _install_file(candidate, target)
            return target
    if not provision:
        raise HarnessError(f"o200k vocab not found in {target.parent}; run `harness assets --provision` "
                           "(or `make setup`) to fetch it from the litellm wheel on PyPI")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(VOCAB_PACKAGE, Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            extracted = Path(archive.extract(VOCAB_MEMBER, tmp))
        if sha256_file(extracted) != VOCAB_SHA256:
            raise HarnessError(f"vocab from {wheel.name} has the wrong sha256; refusing to use it")
        _install_file(extracted, target)
    return target


def _vocab_candidates() -> list[Path]:
    found = []
    if os.environ.get("TIKTOKEN_ENCODINGS_BASE"):
        found.append(Path(os.environ["TIKTOKEN_ENCODINGS_BASE"]) / VOCAB_FILENAME)
    if os.environ.get("TIKTOKEN_RS_CACHE_DIR"):
        found.append(Path(os.environ["TIKTOKEN_RS_CACHE_DIR"]) / VOCAB_CACHE_NAME)
    try:  # an installed litellm already carries the file
        import importlib.util

        spec = importlib.util.find_spec("litellm")
        if spec and spec.origin:
            found.append(Path(spec.origin).parent / "litellm_core_utils" / "tokenizers" / VOCAB_CACHE_NAME)
    except (ImportError, ValueError):
        pass
    return found


def _pip_download(requirement: str, dest: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d",
               str(dest), requirement]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    files = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or not files:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise HarnessError(f"could not download {requirement} from the package index ({last})")
    return files[0]


def _install_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    shutil.copyfile(source, partial)
    partial.replace(target)  # atomic: a half-written file never looks provisioned


# ---------------------------------------------------------------------------------------------------------------
# chat template


def provisioned_template_path(provision: bool = True) -> Path:
    target = cache_dir() / "templates" / f"gpt-oss-{TEMPLATE_SHA256[:12]}.jinja"
    if target.exists() and sha256_file(target) == TEMPLATE_SHA256:
        return target
    if not provision:
        raise HarnessError("gpt-oss chat template not provisioned; run `harness assets --provision` "
                           "(or `make setup`) to take it from the llama-cpp-python sdist on PyPI")
    with tempfile.TemporaryDirectory() as tmp:
        sdist = _download_sdist(TEMPLATE_PACKAGE, TEMPLATE_SDIST, TEMPLATE_SDIST_SHA256, Path(tmp))
        with tarfile.open(sdist) as archive:
            member = archive.extractfile(TEMPLATE_MEMBER)
            if member is None:
                raise HarnessError(f"{TEMPLATE_SDIST} has no {TEMPLATE_MEMBER}")
            data = member.read()
        if hashlib.sha256(data).hexdigest() != TEMPLATE_SHA256:
            raise HarnessError("chat template in the sdist has an unexpected sha256; refusing to use it")
        partial = Path(tmp) / "template.jinja"
        partial.write_bytes(data)
        _install_file(partial, target)
    return target


def _index_url() -> str:
    """The index pip uses here (PIP_INDEX_URL or pip config), so provisioning follows the user's mirror."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].rstrip("/")
    done = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                          capture_output=True, text=True, check=False)
    value = done.stdout.strip()
    return value.rstrip("/") if done.returncode == 0 and value.startswith("http") else "https://pypi.org/simple"


def _download_sdist(package: str, filename: str, sha256: str, dest: Path) -> Path:
    # pip cannot download this sdist without building its metadata (a C++ build), so read the simple index.
    index = f"{_index_url()}/{package}/"
    try:
        with urllib.request.urlopen(index, timeout=60) as response:
            page = response.read().decode("utf-8", "replace")
        match = re.search(r'href="([^"]*' + re.escape(filename) + r'[^"]*)"', page)
        if not match:
            raise HarnessError(f"{filename} is not listed at {index}")
        url = urllib.parse.urljoin(index, match.group(1).replace("&amp;", "&"))
        target = dest / filename
        with urllib.request.urlopen(url, timeout=600) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        raise HarnessError(f"could not download {filename} from {index} ({exc})") from exc
    if sha256_file(target) != sha256:
        raise HarnessError(f"{filename} has the wrong sha256; refusing to use it")
    return target


# ---------------------------------------------------------------------------------------------------------------
# openai-harmony


@functools.lru_cache(maxsize=1)
def harmony_encoding():
    """The HARMONY_GPT_OSS encoding, loaded from the verified local vocab (never downloaded at run time)."""
    path = vocab_path(provision=False)
    os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(path.parent)
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding

    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)


@functools.lru_cache(maxsize=1)
def special_token_names() -> dict[int, str]:
    """Names of the special ids 199998..201087 (`<|start|>`, `<|reserved_200013|>`, ...)."""
    encoding = harmony_encoding()
    return {i: encoding.decode([i]) for i in range(FIRST_SPECIAL_ID, VOCAB_SIZE)}


# ---------------------------------------------------------------------------------------------------------------
# transformers tokenizer


def build_tokenizer(target: Path, template_text: str) -> Path:
    """A fast tokenizer from the raw vocab, saved with the chat template; verified against openai-harmony."""
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    names = [special_token_names()[i] for i in range(FIRST_SPECIAL_ID, VOCAB_SIZE)]
    converter = TikTokenConverter(vocab_file=str(vocab_path()), pattern=O200K_PATTERN, extra_special_tokens=names)
    backend = converter.converted()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|startoftext|>",
                                        eos_token="<|return|>", pad_token="<|endoftext|>",
                                        additional_special_tokens=names)
    tokenizer.chat_template = template_text
    tokenizer.model_max_length = 131072
    verify_tokenizer(tokenizer)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


VERIFY_TEXT = ("<|start|>system<|message|>You are ChatGPT.\nKnowledge cutoff: 2024-06<|end|><|start|>user<|message|>"
               "Is \"FREE $$$ click https://x.co/win\" spam? Answer {\"violation\": 1}. 日本語 тест 12345 "
               "don't   tabs\tand\n\nnewlines<|end|><|start|>assistant<|channel|>analysis<|message|>")


def verify_tokenizer(tokenizer) -> None:
    """Id-for-id agreement with openai-harmony on specials, text, numbers, CJK, whitespace runs."""
    expected = harmony_encoding().encode(VERIFY_TEXT, allowed_special="all")
    got = tokenizer.encode(VERIFY_TEXT, add_special_tokens=False)
    if list(got) != list(expected):
        raise HarnessError("the tokenizer built from the vocab does not match openai-harmony id for id")


# ---------------------------------------------------------------------------------------------------------------
# resolution


def offline_tokenizer_dir() -> Path:
    """Where the offline tokenizer is built (named by the chat template it carries)."""
    return cache_dir() / "tokenizer" / TEMPLATE_SHA256[:12]


def offline_model_dir() -> Path:
    """Where the tiny model is built (by harness/tiny_model/build.py)."""
    return cache_dir() / "models" / TINY_MODEL_ID


def provision_tokenizer() -> tuple[Path, Path]:
    """Make the offline vocab, chat template and tokenizer (idempotent): (template path, tokenizer dir). The tiny
    model is provisioned a layer above (`harness.tiny_model.provision()`)."""
    vocab_path(provision=True)
    template_path = provisioned_template_path(provision=True)
    tokenizer_dir = offline_tokenizer_dir()
    if not (tokenizer_dir / "tokenizer.json").exists():
        build_tokenizer(tokenizer_dir, template_path.read_text(encoding="utf-8"))
    return template_path, tokenizer_dir


def tiny_model_marker(model_dir: Path | None) -> dict | None:
    """What `harness/tiny_model/build.py` wrote next to the weights it trained (version, recipe, seed, ...), or
    None."""
    if model_dir is None:
        return None
    try:
        marker = json.loads((Path(model_dir) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def tokenizer_template_path(tokenizer_dir: Path) -> Path:
    """The chat template saved next to a built tokenizer, else the provisioned one."""
    saved = Path(tokenizer_dir) / TEMPLATE_FILENAME
    return saved if saved.exists() else provisioned_template_path(False)


def tiny_model_revision(model_dir: Path | None) -> str | None:
    """The training recipe a provisioned tiny model was built by (its marker's version): it stands for the
    weights in result-store keys, so a retrained model never reuses an older model's answers."""
    marker = tiny_model_marker(model_dir)
    if not marker:
        return None
    return f"{marker.get('version')}.{marker.get('recipe') or 'unhashed'}+seed{marker.get('seed')}"


def offline_assets(template_path: Path, tokenizer_dir: Path, model_dir: Path | None) -> Assets:
    """The `Assets` of the offline provisioning (model id tiny-gpt-oss) over these files."""
    return Assets(model_id=TINY_MODEL_ID, source="provisioned", revision=tiny_model_revision(model_dir),
                  vocab_path=vocab_path(False),
                  template_path=template_path, template_sha256=sha256_file(template_path),
                  tokenizer_dir=tokenizer_dir, model_dir=model_dir)


def resolve(model: str | None = None) -> Assets:
    """Assets for `model`: a local dir, an HF cache snapshot, or (OFFLINE_NAMES) the offline assets, which
    `harness.tiny_model.provision()` makes."""
    if model in OFFLINE_NAMES:
        model_dir = offline_model_dir()
        tokenizer_dir = offline_tokenizer_dir()
        if not (tokenizer_dir / "tokenizer.json").exists() or not (model_dir / "config.json").exists():
            raise HarnessError("offline assets are not provisioned; run `make setup` or `harness assets --provision`")
        return offline_assets(provisioned_template_path(False), tokenizer_dir, model_dir)
    local = Path(model).expanduser()
    if local.is_dir():
        return _snapshot_assets(model, local, "local-path", revision=None)
    snapshot = _hf_cache_snapshot(model)
    if snapshot is None:
        raise HarnessError(f"model {model!r} is neither a local directory nor in the Hugging Face cache; "
                           f"download it with `hf download {model}` on a machine with access, or use the offline "
                           "default")
    return _snapshot_assets(model, snapshot, "hf-cache", revision=snapshot.name)


def _hf_cache_snapshot(repo_id: str) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True,
                                      allow_patterns=["*.json", "*.jinja", "*.safetensors"]))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def _snapshot_assets(model_id: str, folder: Path, source: str, revision: str | None) -> Assets:
    template_path = folder / TEMPLATE_FILENAME
    if not template_path.exists():
        config_path = folder / "tokenizer_config.json"
        template_text = None
        if config_path.exists():
            template_text = json.loads(config_path.read_text(encoding="utf-8")).get("chat_template")
        if not isinstance(template_text, str):
            raise HarnessError(f"{folder} has no chat_template.jinja and no chat_template in tokenizer_config.json")
        template_path = cache_dir() / "templates" / f"{hashlib.sha256(template_text.encode()).hexdigest()[:12]}.jinja"
        template_path.parent.mkdir(parents=True, exist_ok=True)
        template_path.write_text(template_text, encoding="utf-8")
    if not (folder / "tokenizer.json").exists():
        raise HarnessError(f"{folder} has no tokenizer.json")
    has_weights = any(folder.glob("*.safetensors")) or (folder / "config.json").exists()
    return Assets(model_id=model_id, source=source, revision=revision, vocab_path=vocab_path(provision=False),
                  template_path=template_path, template_sha256=sha256_file(template_path), tokenizer_dir=folder,
                  model_dir=folder if has_weights else None)


def describe(assets: Assets) -> dict:
    return {"model_id": assets.model_id, "source": assets.source, "revision": assets.revision,
            "harmony_version": harmony_version(), "files": [asdict(r) for r in assets.records()]}
