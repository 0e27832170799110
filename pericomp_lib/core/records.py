"""The case contract: one JSON object per line of `cohort.jsonl`.

Every source (synthetic, the authors' layout, a user's JSONL or CSV, MIMIC-IV) ends here, so that
prompts, training, inference and evaluation never care where a case came from.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import taxonomy
from .io import read_text, write_jsonl

SPLITS = ("train", "validation", "test")
LANGUAGES = ("en", "zh")
REQUIRED = ("case_id", "center", "split", "language", "record", "gold")
EVIDENCE_KINDS = ("named", "criteria")  # the record names the diagnosis | only its criteria show


@dataclass
class GoldLabel:
    complication: str  # canonical id
    grade: str  # mild | moderate | severe | none
    evidence: list[str] = field(default_factory=list)
    # How the record shows the label (synthetic cohorts; None elsewhere): "named" when a note names the
    # diagnosis ("Impression: paralytic ileus"), "criteria" when only the facts the definition reads appear.
    # Evaluation scores recall on each apart: a bag of words finds the first kind, reading criteria the second.
    evidence_kind: str | None = None


@dataclass
class Case:
    case_id: str
    center: str
    split: str
    language: str
    record: str
    gold: list[GoldLabel]
    human: list[GoldLabel] | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # source-specific keys (subject_id, hadm_id, surgery...)

    def labels(self) -> list[str]:
        """Lenient labels as result files write them (zh short names; 无术后并发症 when empty)."""
        return sorted({taxonomy.zh_short(g.complication) for g in self.gold}) or [taxonomy.NONE_ZH]

    def strict_labels(self) -> list[str]:
        return sorted({taxonomy.strict_label(g.complication, g.grade) for g in self.gold}) or [
            f"{taxonomy.NONE_ZH}_Null"
        ]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not d["meta"]:
            d.pop("meta")
        for labels in (d["gold"], d["human"] or []):
            for label in labels:
                if label["evidence_kind"] is None:
                    label.pop("evidence_kind")
        return d


class CohortError(ValueError):
    """A cohort line that breaks the contract; the message names file, line and field."""


def _labels(raw: Any, where: str, fld: str, record: str, check_evidence: bool) -> list[GoldLabel]:
    if not isinstance(raw, list):
        raise CohortError(
            f"{where}: field {fld!r} must be a list of {{complication, grade, evidence}}, got {type(raw).__name__}"
        )
    out: list[GoldLabel] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        at = f"{where}: field {fld}[{i}]"
        if not isinstance(item, dict) or "complication" not in item:
            raise CohortError(f"{at}: must be an object with 'complication', 'grade' and 'evidence'")
        name = item["complication"]
        cid = taxonomy.lookup(name)
        if cid is None or cid == taxonomy.NONE_ID:
            near = taxonomy.nearest_id(str(name))
            raise CohortError(
                f"{at}.complication: unknown complication {name!r}; nearest valid id is {near!r} "
                f"(valid: {', '.join(taxonomy.IDS)}; a case without complications has an empty list)"
            )
        if cid in seen:
            raise CohortError(f"{at}.complication: {cid!r} listed twice in the same case")
        seen.add(cid)
        try:
            grade = taxonomy.canonical_grade(item.get("grade", "none"))
        except ValueError as e:
            raise CohortError(f"{at}.grade: {e}") from None
        evidence = item.get("evidence", [])
        if isinstance(evidence, str):
            evidence = [evidence]
        if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
            raise CohortError(f"{at}.evidence: must be a list of strings quoted from the record")
        if check_evidence:
            for e in evidence:
                if e not in record:
                    raise CohortError(
                        f"{at}.evidence: {e[:80]!r} does not occur verbatim in the record; quote the record "
                        "exactly or drop the evidence string"
                    )
        kind = item.get("evidence_kind")
        if kind is not None and kind not in EVIDENCE_KINDS:
            raise CohortError(
                f"{at}.evidence_kind: {kind!r}; use one of {', '.join(EVIDENCE_KINDS)} or leave the field out"
            )
        out.append(GoldLabel(cid, grade, list(evidence), kind))
    return out


def case_from_dict(obj: Any, where: str = "<case>", check_evidence: bool = True) -> Case:
    """Validate one parsed object against the contract."""
    if not isinstance(obj, dict):
        raise CohortError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in REQUIRED:
        if key not in obj:
            raise CohortError(f"{where}: missing field {key!r} (required: {', '.join(REQUIRED)})")
    case_id = obj["case_id"]
    if not isinstance(case_id, (str, int)) or str(case_id).strip() == "":
        raise CohortError(f"{where}: field 'case_id' must be a non-empty string")
    if obj["split"] not in SPLITS:
        raise CohortError(f"{where}: field 'split' is {obj['split']!r}; use one of {', '.join(SPLITS)}")
    if obj["language"] not in LANGUAGES:
        raise CohortError(f"{where}: field 'language' is {obj['language']!r}; use one of {', '.join(LANGUAGES)}")
    record = obj["record"]
    if not isinstance(record, str) or not record.strip():
        raise CohortError(f"{where}: field 'record' is empty; every case needs the medical record text")
    gold = _labels(obj["gold"], where, "gold", record, check_evidence)
    human = obj.get("human")
    human_labels = None if human is None else _labels(human, where, "human", record, check_evidence=False)
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise CohortError(f"{where}: field 'meta' must be an object")
    return Case(str(case_id), str(obj["center"]), obj["split"], obj["language"], record, gold, human_labels, meta)


def json_error(line: str, e: json.JSONDecodeError) -> str:
    """Where parsing of one JSON line stopped and why. For a string that never closes, json names the column
    where the string opened; parsing ran on to the end of the line, which is what a cut line shows."""
    text = line.rstrip("\r\n")
    if e.pos >= len(text):  # stopped at the newline (a control character inside a string): parse without it
        try:
            json.loads(text)
        except json.JSONDecodeError as inner:
            e = inner
    if e.msg.startswith("Unterminated string"):
        return (
            f"invalid JSON at column {len(text) + 1}, the end of the line, inside a string opened at column "
            f"{e.colno}: the line looks cut (an interrupted write or copy); restore it or make the file again"
        )
    cut = e.pos >= len(text.rstrip())
    hint = ", the end of the line: the line looks cut (an interrupted write or copy)" if cut else ""
    return f"invalid JSON at column {e.colno}{hint} ({e.msg})"


def load_cohort(path: str | os.PathLike, check_evidence: bool = True) -> list[Case]:
    """Read and validate every line; the first broken line raises with file, line number and field."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: cohort file not found (make one with notebooks/01_cohort.ipynb)")
    cases: list[Case] = []
    seen: dict[str, int] = {}
    text = read_text(path, CohortError)  # not UTF-8: file and line named; a byte-order mark is dropped
    for lineno, line in enumerate(io.StringIO(text, newline=None), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise CohortError(f"{where}: {json_error(line, e)}") from None
        case = case_from_dict(obj, where, check_evidence)
        if case.case_id in seen:
            raise CohortError(f"{where}: duplicate case_id {case.case_id!r} (first on line {seen[case.case_id]})")
        seen[case.case_id] = lineno
        cases.append(case)
    if not cases:
        raise CohortError(f"{path}: no cases in file")
    return cases


def write_cohort(path: str | os.PathLike, cases: Iterable[Case]) -> Path:
    """Atomic: readers see the old file or the whole new one."""
    return write_jsonl(path, (c.to_dict() for c in cases))


def split_cases(cases: Iterable[Case], split: str) -> list[Case]:
    """Cases of one split; 'eval' means validation, or test when a cohort has no validation split."""
    cases = list(cases)
    if split == "eval":
        val = [c for c in cases if c.split == "validation"]
        return val or [c for c in cases if c.split == "test"]
    if split == "all":
        return cases
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}, 'eval' or 'all'")
    return [c for c in cases if c.split == split]


def calibration_split(train: Sequence[Case], n_calibration: int) -> tuple[list[Case], list[Case]]:
    """(cases to fine-tune on, held-out training cases for choosing an operating point).

    The last `n_calibration` training cases are never trained on: a threshold chosen on answers the model
    was fitted to would sit too high. Both come from the training split, so the evaluation split stays
    untouched by every choice. A synthetic counterfactual twin (meta.twin_of) is not held out, and leaves
    training with its case when that case is held out."""
    train = list(train)
    own = [c for c in train if not (c.meta or {}).get("twin_of")]  # counterfactual twins are never held out
    k = max(0, min(int(n_calibration), len(own) - 1)) if own else 0
    if not k:
        return train, []
    held = own[len(own) - k :]
    out = {c.case_id for c in held}  # nor trained on when their case is held out
    return [c for c in train if c.case_id not in out and (c.meta or {}).get("twin_of") not in out], held


def gold_maps(cases: Iterable[Case]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(lenient, strict) gold in the paper-comparable result-file shape."""
    cases = list(cases)
    return {c.case_id: c.labels() for c in cases}, {c.case_id: c.strict_labels() for c in cases}


def restrict_labels(label_map: dict[str, list[str]], complications, strict: bool) -> dict[str, list[str]]:
    """Keep only labels of the complications a run asked about (targeted runs may ask fewer than 22).

    Gold and every model are restricted alike, so recall is not capped by questions never asked.
    Labels that name no known complication (a model's invention) stay: they are false positives.
    A case left with nothing becomes the no-complication label.
    """
    if not complications:
        return {k: list(v) for k, v in label_map.items()}
    scope = set(complications)
    none = f"{taxonomy.NONE_ZH}_Null" if strict else taxonomy.NONE_ZH
    out: dict[str, list[str]] = {}
    for case_id, labels in label_map.items():
        kept = []
        for label in labels:
            cid = taxonomy.lookup(label.rsplit("_", 1)[0] if strict and "_" in label else label)
            if cid == taxonomy.NONE_ID:
                continue
            if cid is None or cid in scope:
                kept.append(label)
        out[case_id] = kept or [none]
    return out
