"""One surgical admission -> an English narrative of the course after the operation, plus silver labels.

The narrative mirrors what the PeriComp records hold (patient, operation, postoperative course, discharge
text) but is assembled from MIMIC-IV tables. Silver labels come from the admission's billed ICD diagnoses
through the mapping table: they are NOT chart-reviewed gold (see docs/mimic.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from ...core.records import GoldLabel
from .icd import IcdMap, format_dx, format_px, is_surgical

SPLIT_FRACTIONS = (("train", 0.70), ("validation", 0.15), ("test", 0.15))


def _dt(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(str(s))


def _d(s: str | None) -> date | None:
    return None if s is None else date.fromisoformat(str(s)[:10])


def index_operation(adm: dict) -> dict | None:
    """The admission's first surgical procedure (by chartdate, then seq_num); None when there is none."""
    ops = [p for p in adm.get("procedures") or [] if is_surgical(p["icd_code"], p["icd_version"])]
    if not ops:
        return None
    return min(ops, key=lambda p: (p.get("chartdate") or "9999", p.get("seq_num") or 0))


def admission_labs(subject: dict, adm: dict) -> list[dict]:
    """Labs of this stay: stored with its hadm_id, or without one but charted between admit and discharge."""
    start, end = _dt(adm.get("admittime")), _dt(adm.get("dischtime"))
    out = []
    for lab in subject.get("labs") or []:
        if lab.get("hadm_id") == adm["hadm_id"] or (
            lab.get("hadm_id") is None
            and start
            and end
            and lab.get("charttime")
            and start <= _dt(lab["charttime"]) <= end
        ):
            out.append(lab)
    return out


def split_labs(labs: list[dict], op_day: date) -> tuple[list[dict], list[dict]]:
    """(before the operation day, from the operation day on): MIMIC dates procedures, it does not time them."""
    before = [lab for lab in labs if _d(lab["charttime"]) < op_day]
    after = [lab for lab in labs if _d(lab["charttime"]) >= op_day]
    return before, after


def dx_text(d: dict) -> str:
    """'N17.9 Acute kidney failure, unspecified': how a diagnosis reads in the record and in evidence."""
    title = d.get("title") or "(title not in d_icd_diagnoses)"
    return f"{format_dx(d['icd_code'], d['icd_version'])} {title}"


def px_text(p: dict) -> str:
    title = p.get("title") or "(title not in d_icd_procedures)"
    return f"{format_px(p['icd_code'], p['icd_version'])} {title}"


def silver_labels(
    adm: dict, icd_map: IcdMap, skip_principal: bool = True, postop_only: bool = False, min_confidence: str = "low"
) -> list[GoldLabel]:
    """Complications named by the admission's diagnosis codes; grade 'none' (ICD codes carry no EPCO grade).

    skip_principal drops seq_num 1, the reason for admission (a stroke admission is not a postoperative
    stroke); postop_only keeps only codes that by definition mean a complication of care (T81.4, I97.x ...).
    """
    levels = {"high": 0, "medium": 1, "low": 2}
    found: dict[str, list[str]] = {}
    for d in adm.get("diagnoses") or []:
        if skip_principal and d.get("seq_num") == 1:
            continue
        row = icd_map.lookup(d["icd_code"], d["icd_version"])
        if row is None or levels[row.confidence] > levels[min_confidence] or (postop_only and not row.postop_specific):
            continue
        found.setdefault(row.complication, []).append(dx_text(d))
    return [GoldLabel(cid, "none", sorted(set(ev))) for cid, ev in sorted(found.items())]


def subject_split(subject_id: int, seed: int) -> str:
    """Deterministic by subject, so no patient sits in two splits, and stable across runs and machines."""
    h = int(hashlib.sha256(f"{seed}:{subject_id}".encode()).hexdigest()[:12], 16) / 16**12
    acc = 0.0
    for name, frac in SPLIT_FRACTIONS:
        acc += frac
        if h < acc:
            return name
    return SPLIT_FRACTIONS[-1][0]


def _num(v: float) -> str:
    return f"{v:.4g}"


def lab_text(lab: dict) -> str:
    """'Creatinine 2.4 mg/dL ↑ (ref 0.5-1.2)'."""
    name = lab.get("label") or f"item {lab['itemid']}"
    v, lo, hi = lab.get("valuenum"), lab.get("ref_range_lower"), lab.get("ref_range_upper")
    shown = _num(v) if v is not None else (lab.get("value") or "(no value)")
    unit = f" {lab['valueuom']}" if lab.get("valueuom") else ""
    arrow = ""
    if v is not None and hi is not None and v > hi:
        arrow = " ↑"
    elif v is not None and lo is not None and v < lo:
        arrow = " ↓"
    elif (lab.get("flag") or "").lower() == "abnormal":
        arrow = " (abnormal)"
    ref = f" (ref {_num(lo)}-{_num(hi)})" if lo is not None and hi is not None else ""
    return f"{name} {shown}{unit}{arrow}{ref}"


def _deviation(lab: dict) -> float:
    v, lo, hi = lab.get("valuenum"), lab.get("ref_range_lower"), lab.get("ref_range_upper")
    if v is None or lo is None or hi is None:
        return 0.0
    return max(lo - v, v - hi, 0.0) / ((hi - lo) or 1.0)


def daily_worst(labs: Iterable[dict], items: set[int] | None) -> dict[date, list[dict]]:
    """One value per item per day: the most abnormal one, else the last (keeps records short but honest)."""
    best: dict[tuple[date, int], dict] = {}
    for lab in labs:
        if items is not None and lab["itemid"] not in items:
            continue
        key = (_d(lab["charttime"]), lab["itemid"])
        cur = best.get(key)
        if cur is None or _deviation(lab) > _deviation(cur) or (_deviation(lab) == _deviation(cur) == 0.0):
            best[key] = lab
    days: dict[date, list[dict]] = {}
    for (day, _), lab in sorted(best.items(), key=lambda kv: (kv[0][0], kv[1].get("label") or "")):
        days.setdefault(day, []).append(lab)
    return days


def render_record(
    subject: dict,
    adm: dict,
    op: dict,
    labs: list[dict],
    top_items: list[int] | None,
    include_diagnoses: bool = True,
    max_pod: int = 30,
    max_note_chars: int = 20000,
) -> str:
    """The case text. Diagnoses are listed when include_diagnoses, which makes evidence quotable but
    also shows the model the billing codes behind the silver labels (docs/mimic.md discusses the trade-off)."""
    op_day = _d(op["chartdate"])
    items = set(top_items) if top_items is not None else None
    before, after = split_labs(labs, op_day)
    admit, disch = _dt(adm.get("admittime")), _dt(adm.get("dischtime"))
    los = f" (length of stay {(disch - admit).total_seconds() / 86400:.1f} days)" if admit and disch else ""
    sex = {"F": "woman", "M": "man"}.get(subject.get("gender"), "patient")
    died = "yes" if adm.get("hospital_expire_flag") else "no"
    lines = [
        "# General information",
        f"Patient: {subject.get('anchor_age')}-year-old {sex} (age at the anchor year).",
        f"Admission: {adm.get('admission_type') or 'unknown type'}, admitted {str(adm.get('admittime'))[:16]} from "
        f"{adm.get('admission_location') or 'unknown'}, discharged {str(adm.get('dischtime'))[:16]} to "
        f"{adm.get('discharge_location') or 'unknown'}{los}. Died in hospital: {died}.",
        "",
        "# Operation",
        f"Index operation on {op_day.isoformat()}: {px_text(op)}.",
    ]
    others = [p for p in adm.get("procedures") or [] if p is not op]
    if others:
        lines.append("Other procedures this admission:")
        lines += [f"- {p.get('chartdate') or 'undated'}: {px_text(p)}" for p in others]
    lines += ["", "# Preoperative laboratory baseline"]
    last_before: dict[int, dict] = {}
    for lab in before:
        if items is None or lab["itemid"] in items:
            last_before[lab["itemid"]] = lab
    lines += [
        f"- {lab_text(lab)} ({lab['charttime'][:16]})"
        for lab in sorted(last_before.values(), key=lambda x: x.get("label") or "")
    ] or ["No laboratory results before the operation day."]
    lines += ["", "# Postoperative laboratory course (POD 0 = day of operation)"]
    days = daily_worst(after, items)
    shown = [(day, labs_) for day, labs_ in days.items() if (day - op_day).days <= max_pod]
    lines += [
        f"POD {(day - op_day).days} ({day.isoformat()}): " + "; ".join(lab_text(x) for x in labs_)
        for day, labs_ in shown
    ] or ["No laboratory results after the operation."]
    if len(shown) < len(days):
        lines.append(f"({len(days) - len(shown)} later days not shown)")
    if include_diagnoses:
        versions = sorted({d["icd_version"] for d in adm.get("diagnoses") or []})
        lines += ["", f"# Discharge diagnoses (ICD-{'/'.join(map(str, versions)) or '?'}-CM, as billed)"]
        lines += [f"- {dx_text(d)}" for d in adm.get("diagnoses") or []] or ["None recorded."]
    notes = adm.get("notes") or []
    if notes:
        text = "\n\n".join(n["text"] for n in notes)
        if len(text) > max_note_chars:
            text = text[:max_note_chars] + f"\n[... truncated: {len(text) - max_note_chars} more characters]"
        lines += ["", "# Discharge summary", text]
    return "\n".join(lines)


def case_meta(subject: dict, adm: dict, op: dict) -> dict[str, Any]:
    versions = sorted({d["icd_version"] for d in (adm.get("diagnoses") or []) + (adm.get("procedures") or [])})
    return {
        "subject_id": subject["subject_id"],
        "hadm_id": adm["hadm_id"],
        "icd_version": versions[-1] if versions else None,
        "operation": format_px(op["icd_code"], op["icd_version"]),
        "operation_date": op["chartdate"],
    }
