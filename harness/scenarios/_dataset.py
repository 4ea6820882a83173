"""Cases from a dataset table: a local file, or (online only) a Hugging Face dataset via huggingface_hub.

No `datasets` library: the Hub's parquet conversion (`refs/convert/parquet`, files `{config}/{split}/*.parquet`)
is fetched with `hf_hub_download` and read with pandas. `files = [...]` names the repo files explicitly instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError

DATASET_KEYS = {"id", "config", "split", "text_field", "label_field", "id_field", "sample", "seed", "balanced",
                "path", "files", "revision", "label_map"}
PARQUET_REVISION = "refs/convert/parquet"


def _read_table(path: Path):
    import pandas as pd

    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".jsonl.gz", ".json"):
            return pd.read_json(path, lines=suffix != ".json")
        if suffix in (".csv", ".csv.gz"):
            return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many kinds; one line names the file
        raise HarnessError(f"dataset file {path}: cannot read: {' '.join(str(exc).split())[:160]}") from None
    raise HarnessError(f"dataset file {path}: unsupported type (use .parquet, .jsonl, .json or .csv)")


def _hub_files(spec: dict[str, Any]) -> list[Path]:
    from huggingface_hub import HfApi, hf_hub_download

    repo = spec["id"]
    config, split = spec.get("config") or "default", spec.get("split") or "train"
    files, revision = spec.get("files"), spec.get("revision")
    try:
        if not files:
            revision = PARQUET_REVISION
            listed = HfApi().list_repo_files(repo, repo_type="dataset", revision=revision)
            files = sorted(f for f in listed if f.endswith(".parquet") and
                           (f.startswith(f"{config}/{split}/") or f.startswith(f"{config}/") and
                            Path(f).stem.endswith(f"-{split}")))
            if not files:
                raise HarnessError(f"dataset {repo}: no parquet files for config {config!r} split {split!r}")
        return [Path(hf_hub_download(repo, f, repo_type="dataset", revision=revision)) for f in files]
    except HarnessError:
        raise
    except Exception as exc:  # noqa: BLE001 - network, auth (gated datasets), missing revision
        raise HarnessError(f"dataset {repo}: download failed: {type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:160]}") from None


def load_dataset_rows(spec: dict[str, Any], *, base_dir: Path, online: bool) -> list[dict[str, Any]]:
    """Rows `{"id", "text", "gold"}` sampled as the spec says (`sample`, `seed`, `balanced`)."""
    import pandas as pd

    if spec.get("path"):
        paths = [base_dir / spec["path"]]
        if not paths[0].is_file():
            raise HarnessError(f"dataset file {paths[0]} does not exist")
    elif not online:
        raise HarnessError(f"dataset {spec.get('id')} needs network; pass --online")
    else:
        paths = _hub_files(spec)
    table = pd.concat([_read_table(p) for p in paths], ignore_index=True)
    text_field, label_field = spec.get("text_field", "text"), spec.get("label_field")
    for column in (text_field, label_field, spec.get("id_field")):
        if column is not None and column not in table.columns:
            raise HarnessError(f"dataset {spec.get('id') or spec.get('path')}: no column {column!r} "
                               f"(columns: {', '.join(map(str, table.columns))})")
    table = table[table[text_field].notna()]
    sample, seed = spec.get("sample"), int(spec.get("seed", 0))
    if spec.get("balanced"):
        if label_field is None:
            raise HarnessError("dataset: balanced = true needs a label_field")
        groups = [g for _, g in table.groupby(label_field, sort=True)]
        per_label = (sample or len(table)) // max(len(groups), 1)
        table = pd.concat([g.sample(n=min(per_label, len(g)), random_state=seed) for g in groups])
        table = table.sample(frac=1, random_state=seed)  # interleave labels
    elif sample is not None and sample < len(table):
        table = table.sample(n=sample, random_state=seed)
    label_map = {str(k): str(v) for k, v in (spec.get("label_map") or {}).items()}
    prefix = spec.get("split") or Path(str(spec.get("path", "row"))).stem
    rows = []
    for index, row in table.iterrows():
        gold = None
        if label_field is not None and pd.notna(row[label_field]):
            value = row[label_field]
            gold = str(int(value)) if isinstance(value, (int, float)) and float(value).is_integer() else str(value)
            gold = label_map.get(gold, gold)
        case_id = str(row[spec["id_field"]]) if spec.get("id_field") else f"{prefix}-{index}"
        rows.append({"id": case_id, "text": str(row[text_field]), "gold": gold})
    return rows
