"""Labels in: read the CSV, validate it, and encode labels as integer codes in a (case, repeat, backend) cube."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError

PARSE_FAILURE = "parse-failure"  # its own outcome, never coerced into a label
FINE_NONE = "(none)"  # fine_label column: an answer that parsed but carries no fine label
REQUIRED = ("case_id", "backend", "label")
OPTIONAL = ("repeat", "gold", "fine_label")


def load_labels_csv(path: str | Path) -> pd.DataFrame:
    """Read LABELS.csv (`case_id,backend,label[,repeat][,gold][,fine_label]`) into a validated, normalised
    DataFrame."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"labels file not found: {path}")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            # Sniff the header ourselves: pandas happily reads almost anything as a one-column CSV.
            header = next(csv.reader(handle), None)
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=True)
    except (UnicodeDecodeError, csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise HarnessError(f"{path} is not a readable CSV file ({type(exc).__name__})") from None
    if header is None:
        raise HarnessError(f"{path} is empty: expected a header case_id,backend,label[,repeat][,gold]")
    return normalise_labels(df, source=str(path))


def normalise_labels(df: pd.DataFrame, *, source: str = "labels") -> pd.DataFrame:
    """Validate columns and values; return case_id, backend, repeat (int), label (str), gold (str or None), and
    fine_label (str) when given: empty means parse-failure where the label failed, else FINE_NONE."""
    if df.attrs.get("harness_labels_normalised"):
        return df
    df = df.rename(columns=lambda c: str(c).strip())
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise HarnessError(f"{source}: missing column(s) {','.join(missing)} "
                           "(expected case_id,backend,label[,repeat][,gold])")
    if len(df) == 0:
        raise HarnessError(f"{source}: no rows")
    label = _text(df["label"])
    # Missing or empty labels are parse failures, kept as their own outcome.
    label = label.where((label != "") & (label.str.lower() != PARSE_FAILURE), PARSE_FAILURE)
    gold = _text(df["gold"]).replace("", None) if "gold" in df.columns else None
    out = pd.DataFrame({
        "case_id": _text(df["case_id"]),
        "backend": _text(df["backend"]),
        "repeat": _repeats(df["repeat"], source) if "repeat" in df.columns else 0,
        "label": label,
        "gold": gold,
    })
    if "fine_label" in df.columns:  # empty: parse-failure where the label failed, else answered without one
        fine = _text(df["fine_label"]).to_numpy(dtype=object)
        fine[fine == ""] = None
        fine = pd.Series(fine, index=out.index)
        fine = fine.where(fine.str.lower() != PARSE_FAILURE, PARSE_FAILURE)
        out["fine_label"] = fine.where(fine.notna(), out["label"].where(out["label"] == PARSE_FAILURE, FINE_NONE))
    if (out["case_id"] == "").any():
        raise HarnessError(f"{source}: empty case_id in row {int((out['case_id'] == '').idxmax()) + 2}")
    if (out["backend"] == "").any():
        raise HarnessError(f"{source}: empty backend in row {int((out['backend'] == '').idxmax()) + 2}")
    duplicated = out.duplicated(["case_id", "backend", "repeat"])
    if duplicated.any():
        row = out[duplicated].iloc[0]
        raise HarnessError(f"{source}: duplicate row for case_id={row['case_id']} backend={row['backend']} "
                           f"repeat={row['repeat']}")
    gold = out.dropna(subset=["gold"]).groupby("case_id")["gold"].nunique()
    if (gold > 1).any():
        raise HarnessError(f"{source}: case_id={gold[gold > 1].index[0]} has conflicting gold labels")
    out = out.reset_index(drop=True)
    out.attrs["harness_labels_normalised"] = True
    return out


def _text(column: pd.Series) -> pd.Series:
    if column.hasnans:
        column = column.astype(object).where(column.notna(), "")
    return column.astype(str).str.strip()


def _repeats(column: pd.Series, source: str) -> pd.Series:
    if pd.api.types.is_integer_dtype(column) and (column >= 0).all():
        return column.astype(np.int64)
    text = _text(column).replace("", "0")
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() | (numbers != numbers.round()) | (numbers < 0)
    if bad.any():
        raise HarnessError(f"{source}: repeat must be a non-negative integer (got {text[bad].iloc[0]!r})")
    return numbers.astype(np.int64)


def as_number(label: str) -> float | None:
    if label == PARSE_FAILURE:
        return None
    try:
        value = float(label)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass
class LabelCube:
    """Labels as integer codes: codes[case, repeat_slot, backend], -1 where a backend has no row."""

    backends: list[str]
    case_ids: np.ndarray  # case id per case index
    repeats: np.ndarray  # repeat value per slot
    labels: list[str]  # outcome per code
    numeric: np.ndarray  # numeric value per code (nan when not a number, e.g. parse-failure)
    codes: np.ndarray
    gold: np.ndarray  # gold code per case (-1 when none); gold labels outside `labels` get new codes
    label_kind: str  # "binary" | "ordinal" | "nominal"
    ordinal: bool  # every parsed label is a number (weighted kappa applies)
    n_outcomes: int  # labels[:n_outcomes] were answered; the rest occur only as gold


def build_cube(df: pd.DataFrame) -> LabelCube:
    backends = list(pd.unique(df["backend"]))  # order of first appearance: the reference usually comes first
    outcomes = set(df["label"].unique())
    golds = set(df["gold"].dropna().unique()) if "gold" in df else set()
    numbers = {label: as_number(label) for label in outcomes | golds}
    parsed = [label for label in outcomes if label not in (PARSE_FAILURE, FINE_NONE)]
    ordinal = bool(parsed) and all(numbers[label] is not None for label in parsed)
    # Numeric labels sort by value (so ordinal weights follow the scale); others alphabetically.
    def order(label: str) -> tuple:
        value = numbers[label]
        return (0, value, label) if value is not None else (1, 0.0, label)

    labels = sorted(outcomes, key=order)
    labels += sorted(golds - outcomes, key=order)
    case_codes, case_ids = pd.factorize(df["case_id"], sort=False)
    slot_codes, repeats = pd.factorize(df["repeat"], sort=True)
    codes = np.full((len(case_ids), len(repeats), len(backends)), -1, dtype=np.int32)
    backend_codes = pd.Categorical(df["backend"], categories=backends).codes
    codes[case_codes, slot_codes, backend_codes] = pd.Categorical(df["label"], categories=labels).codes
    gold = np.full(len(case_ids), -1, dtype=np.int32)
    if "gold" in df:
        with_gold = df["gold"].notna().to_numpy()
        gold[case_codes[with_gold]] = pd.Categorical(df["gold"][with_gold], categories=labels).codes
    kind = "binary" if len(outcomes) == 2 else ("ordinal" if ordinal and len(parsed) >= 2 else "nominal")
    numeric = np.array([np.nan if numbers[label] is None else numbers[label] for label in labels], dtype=float)
    return LabelCube(backends, np.asarray(case_ids, dtype=object), np.asarray(repeats), labels, numeric, codes,
                     gold, kind, ordinal and len(parsed) >= 2, len(outcomes))
