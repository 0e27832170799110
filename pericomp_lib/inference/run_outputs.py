"""Raw answers -> the paper's prediction files, a parse report and side_by_side.csv for reading.

Predictions use the authors' result-file format (lenient {case_id: [zh short names]}, strict
{case_id: ['<zh short>_<轻|中|重|Null>']}, 无术后并发症 when empty), parsed by pericomp_lib.inference.result_files with
the paper's rules; unreadable answers are counted in parse_report.json and count as "absent", never fatal.
side_by_side.csv puts, for each case and complication, the gold answer next to each model's text, its
parsed decision and grade, the decision the scores count (after the paper's rules: 感染 beside a specific
infection is dropped), and whether that is right: the table to read when base and adapter disagree.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..core import records, taxonomy
from ..core.io import atomic_write_text, write_json
from . import decision_rows, parsing, result_files

log = logging.getLogger(__name__)

Answers = Mapping[str, Mapping[str, Mapping[str, str]]]  # {model: {case_id: {item: text}}}


def strategy_of(model: str, strategy: str) -> str:
    """The comprehensive arm of a targeted run (model "comprehensive") answers the comprehensive prompt."""
    return "comprehensive" if model == "comprehensive" else strategy


def _raw_for_parsing(per_case: Mapping[str, Mapping[str, str]], strategy: str) -> dict:
    if strategy == "comprehensive":
        return {c: items["comprehensive"] for c, items in per_case.items()}
    return {c: dict(items) for c, items in per_case.items()}


def write_predictions(out_dir: str | os.PathLike, answers: Answers, strategy: str) -> dict:
    """predictions{,_strict}/<model>.json and parse_report.json; returns {model: {mode: ParseReport}}."""
    out = Path(out_dir)
    reports: dict = {}
    for model, per_case in answers.items():
        raw = _raw_for_parsing(per_case, strategy_of(model, strategy))
        reports[model] = {}
        for mode, folder, strict in (("lenient", "predictions", False), ("strict", "predictions_strict", True)):
            preds, report = result_files.format_results(raw, strategy_of(model, strategy), strict=strict, rules=True)
            write_json(out / folder / f"{model}.json", preds)
            reports[model][mode] = report
        log.info("%s: %s", model, reports[model]["lenient"].summary())
    write_json(out / "parse_report.json", {m: {k: r.to_dict() for k, r in v.items()} for m, v in reports.items()})
    return reports


def _decision(text: str | None, cid: str, strategy: str, parsed_cache: dict) -> tuple[str, object, object, str]:
    """(text shown, present, grade, error) of one model for one complication."""
    if text is None:
        return "", None, None, "no answer in raw.jsonl"
    if strategy == "targeted":
        a = parsing.parse_targeted(text)
        return text, a.present, a.grade, a.error or ""
    key = id(text)
    if key not in parsed_cache:
        parsed_cache[key] = parsing.parse_comprehensive(text)
    a = parsed_cache[key]
    hits = [g for name, g in a.items if name == cid]
    if hits:
        shown = json.dumps(
            {"name": taxonomy.zh_heading(cid), "grading": taxonomy.GRADE_TO_ZH.get(hits[0], hits[0])},
            ensure_ascii=False,
        )
        return shown, True, hits[0], a.error or ""
    return (text if a.error else ""), (None if a.error and not a.items else False), None, a.error or ""


def _scored_labels(answers: Answers, strategy: str) -> dict[str, dict[str, list[str]]]:
    """{model: {case_id: lenient result-file labels}}: what the scores count, the paper's rules applied."""
    out = {}
    for model, per_case in answers.items():
        s = strategy_of(model, strategy)
        out[model], _ = result_files.format_results(_raw_for_parsing(per_case, s), s, strict=False, rules=True)
    return out


def side_by_side(
    cases: Sequence[records.Case], answers: Answers, strategy: str, p_true: Mapping | None = None
) -> pd.DataFrame:
    """One row per (case, complication asked): gold, each model's text / decision / grade, the decision
    after the paper's rules (`_scored`, which `_right` and the scores read), and P(True) at the decision for
    targeted answers."""
    models = list(answers)
    p_true = p_true or {}
    scored_labels = _scored_labels(answers, strategy)
    rows = []
    cache: dict = {}
    for case in cases:
        gold = {g.complication: g.grade for g in case.gold}
        asked = set()
        for m in models:
            asked.update(answers[m].get(case.case_id, {}))
        # the complications the targeted questions asked (a comprehensive arm is read for those only)
        cids = [c for c in taxonomy.IDS if c in asked] or list(taxonomy.IDS)
        if not any(case.case_id in answers[m] for m in models):
            continue
        for cid in cids:
            present = cid in gold
            row = {
                "case_id": case.case_id,
                "complication": cid,
                "zh": taxonomy.zh_short(cid),
                "gold": f"yes ({taxonomy.GRADE_TO_ZH[gold[cid]]})" if present else "no",
                "gold_present": present,
                "gold_grade": gold.get(cid),
            }
            for m in models:
                m_strategy = strategy_of(m, strategy)
                item = "comprehensive" if m_strategy == "comprehensive" else cid
                text = answers[m].get(case.case_id, {}).get(item)
                shown, said, grade, error = _decision(text, cid, m_strategy, cache)
                scored = taxonomy.zh_short(cid) in scored_labels[m].get(case.case_id, ())
                right = scored == present
                row.update(
                    {
                        f"{m}_text": shown,
                        f"{m}_present": said,
                        f"{m}_grade": grade,
                        f"{m}_scored": scored,
                        f"{m}_error": error,
                        f"{m}_right": right,
                        f"{m}_right_strict": right and (not present or grade == gold[cid]),
                    }
                )
                if m_strategy == "targeted":
                    row[f"{m}_p_true"] = p_true.get(m, {}).get(case.case_id, {}).get(cid)
            rows.append(row)
    return pd.DataFrame(rows)


def write_side_by_side(
    out_dir: str | os.PathLike, cases, answers: Answers, strategy: str, p_true: Mapping | None = None
) -> pd.DataFrame:
    df = side_by_side(cases, answers, strategy, p_true)
    atomic_write_text(Path(out_dir) / "side_by_side.csv", df.to_csv(index=False))
    return df


def export(
    out_dir: str | os.PathLike,
    cases,
    answers: Answers,
    strategy: str,
    complications=None,
    p_true: Mapping | None = None,
    calibration_cases: Sequence = (),
    calibration: Mapping | None = None,
) -> pd.DataFrame:
    """Everything 04_inference writes after generation; returns the side-by-side table.

    scope.json records which complications were asked (None: all 22), so evaluation restricts gold alike.
    decisions.csv holds P(True) of every targeted decision: evaluation cases (split "eval") and the
    training cases scored for an operating point (split "train")."""
    write_json(
        Path(out_dir) / "scope.json",
        {
            "complications": list(complications) if complications else None,
            "case_ids": [c.case_id for c in cases],
            "strategy": strategy,
        },
    )
    write_predictions(out_dir, answers, strategy)
    if strategy == "targeted" and p_true:
        targeted = {m: v for m, v in p_true.items() if strategy_of(m, strategy) == "targeted"}
        decision_rows.write(
            out_dir,
            [
                decision_rows.frame(cases, targeted, "eval"),
                decision_rows.frame(calibration_cases, calibration or {}, "train"),
            ],
        )
    return write_side_by_side(out_dir, cases, answers, strategy, p_true)


def disagreements(df: pd.DataFrame, n: int = 8) -> pd.DataFrame:
    """Rows where base and adapter differ in being right (or, with one model, where it is wrong)."""
    if df.empty:
        return df
    if "adapter_right" in df and "base_right" in df:
        picked = df[df["base_right"] != df["adapter_right"]]
    else:
        model = next(c[: -len("_right")] for c in df.columns if c.endswith("_right"))
        picked = df[~df[f"{model}_right"]]
    return picked.head(n)
