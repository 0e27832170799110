"""Prediction and gold files: {case_id: [labels]}, the shape every scorer reads, ours and the authors'.

A contract like the case contract (records.py): the authors' result files, our runs' predictions/ and the
baselines all have this shape, so its reader sits below every stage that writes or scores one.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import taxonomy
from .io import read_json

STRICT_NONE = f"{taxonomy.NONE_ZH}_Null"
_STRICT_SUFFIXES = tuple(f"_{g}" for g in taxonomy.GRADE_TO_ZH.values())


class PredictionFileError(ValueError):
    """A prediction or gold file that breaks the {case_id: [labels]} shape, or lacks cases."""


def label_map(obj, path: Path) -> dict[str, list[str]]:
    if not isinstance(obj, dict):
        raise PredictionFileError(f"{path}: expected a JSON object {{case_id: [labels]}}, got {type(obj).__name__}")
    out: dict[str, list[str]] = {}
    for k, v in obj.items():
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise PredictionFileError(
                f"{path}: case {k!r}: expected a list of label strings, got {v!r}; write e.g. "
                f'["肺炎"] or ["{taxonomy.NONE_ZH}"]'
            )
        out[str(k)] = v
    return out


def is_strict(labels: Iterable[str]) -> bool:
    """True when labels carry a grade suffix (_轻/_中/_重/_Null), as strict result files do."""
    return any(isinstance(x, str) and x.endswith(_STRICT_SUFFIXES) for x in labels)


@dataclass
class PredictionFile(Mapping):
    """One model's predictions, restricted to the requested cases; usable directly as a label map."""

    model: str
    path: Path
    labels: dict[str, list[str]]
    missing: list[str] = field(default_factory=list)  # requested cases absent from the file
    extra: list[str] = field(default_factory=list)  # cases in the file that were not requested (ignored)

    def __getitem__(self, key: str) -> list[str]:
        return self.labels[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.labels)

    def __len__(self) -> int:
        return len(self.labels)


def load_predictions(
    path: str | os.PathLike,
    case_ids: Iterable[str] | None = None,
    missing: str = "error",
    strict: bool | None = None,
) -> PredictionFile:
    """Read one result file; model name = file stem (as the authors' tables name rows).

    case_ids: the cases to keep (normally the gold cases); None keeps every case in the file.
    missing='error' raises, naming the file and the missing ids; missing='empty' counts each missing case as
    ['无术后并发症'] (['无术后并发症_Null'] for strict files; strict=None infers it from the labels), warns
    with the count, and records them in `.missing`.
    """
    if missing not in ("error", "empty"):
        raise ValueError(f"missing must be 'error' or 'empty', got {missing!r}")
    path = Path(path)
    labels = label_map(read_json(path), path)
    if case_ids is None:
        return PredictionFile(path.stem, path, labels)
    ids = [str(i) for i in case_ids]
    wanted = set(ids)
    absent = [i for i in ids if i not in labels]
    extra = [k for k in labels if k not in wanted]
    if absent and missing == "error":
        shown = ", ".join(absent[:10]) + (" ..." if len(absent) > 10 else "")
        raise PredictionFileError(
            f"{path}: lacks {len(absent)} of {len(ids)} cases ({shown}); rerun the model on them, or load with "
            f"missing='empty' to count them as ['{taxonomy.NONE_ZH}']"
        )
    if absent:
        if strict is None:
            strict = is_strict(x for v in labels.values() for x in v) or "strict" in path.parts
        none = [STRICT_NONE if strict else taxonomy.NONE_ZH]
        msg = f"{path}: {len(absent)} of {len(ids)} cases missing, counted as {none}"
        # a warning, not a log line: the user must act: cases scored as no complication
        warnings.warn(msg, stacklevel=2)
    kept = {i: labels.get(i, [STRICT_NONE if strict else taxonomy.NONE_ZH]) for i in ids}
    return PredictionFile(path.stem, path, kept, absent, extra)


def prediction_issues(labels: Mapping[str, list[str]], case_ids: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """What a scorer would otherwise pass over in silence, one line each: case ids that are not evaluation
    cases (ignored), labels that name none of the 22 complications (kept: they count as false positives),
    and cases with an empty answer list (scored as predicting nothing)."""
    wanted = set(case_ids)
    extra = list(extra) + [k for k in labels if k not in wanted]  # `extra`: ids a reader already set aside
    unknown: dict[str, int] = {}
    for k, values in labels.items():
        if k not in wanted:
            continue
        for v in values:
            name = v.rsplit("_", 1)[0] if v.rsplit("_", 1)[-1] in ("轻", "中", "重", "Null") else v
            if taxonomy.lookup(name) is None:
                unknown[v] = unknown.get(v, 0) + 1
    empty = [k for k in labels if k in wanted and not labels[k]]

    def some(xs) -> str:
        xs = list(xs)
        return ", ".join(map(str, xs[:5])) + (" ..." if len(xs) > 5 else "")

    out = []
    if extra:
        out.append(f"{len(extra)} case id(s) that are not evaluation cases, ignored: {some(extra)}")
    if unknown:
        out.append(
            f"{sum(unknown.values())} label(s) naming none of the 22 complications, counted as false "
            f"positives: {some(f'{k} x{n}' for k, n in sorted(unknown.items(), key=lambda kv: -kv[1]))}"
        )
    if empty:
        out.append(f"{len(empty)} case(s) with no answer (empty label list): {some(empty)}")
    return out
