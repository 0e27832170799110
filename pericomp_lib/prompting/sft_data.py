"""SFT examples: each prompt paired with its gold answer, the rows training learns from and 02 writes out.

One builder serves training (03) and the prompt files (02), so the files are a faithful view of what
the model is trained on; inference (04) builds the same prompts from prompts.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..core import taxonomy
from ..core.io import write_json
from ..core.records import Case
from .definitions import Definitions, as_definitions
from .gold_answers import comprehensive_target, targeted_target
from .prompts import check_strategy_layout, comprehensive_prompt, targeted_prefix, targeted_prompts, targeted_question


def _comprehensive_rows(
    case: Case,
    definitions: Definitions,
    layout: str,
    cids: Sequence[str],
    think: bool,
    answer_layout: str,
    question_style: str,
    negative_quote: str,
) -> list[dict[str, Any]]:
    return [
        {
            "case_id": case.case_id,
            "complication": None,
            "prompt": comprehensive_prompt(case.record, definitions, think),
            "completion": comprehensive_target(case, think, definitions.language),
            "prefix": None,
            "question": None,
        }
    ]


def _targeted_rows(
    case: Case,
    definitions: Definitions,
    layout: str,
    cids: Sequence[str],
    think: bool,
    answer_layout: str,
    question_style: str,
    negative_quote: str,
) -> list[dict[str, Any]]:
    lang = definitions.language
    prompts = targeted_prompts(case.record, definitions, layout, cids, answer_layout, question_style)
    prefix = targeted_prefix(case.record, definitions) if layout == "shared_prefix" else None
    gold = {g.complication for g in case.gold}
    traps = (case.meta or {}).get("trap_for") or {}  # synthetic cohorts: {complication: traps laid for it}
    rows = []
    for cid in cids:
        question = targeted_question(definitions, cid, answer_layout, question_style) if prefix is not None else None
        rows.append(
            {
                "case_id": case.case_id,
                "complication": cid,
                "prompt": prompts[taxonomy.zh_heading(cid)],
                "completion": targeted_target(case, cid, lang, answer_layout, negative_quote),
                "prefix": prefix,
                "question": question,
                "positive": cid in gold,
                "trap": cid not in gold and bool(traps.get(cid)),
            }
        )
    return rows


_ROWS = {"comprehensive": _comprehensive_rows, "targeted": _targeted_rows}


def sft_examples(
    cases: Iterable[Case],
    strategy: str,
    definitions: Definitions | str | Path | None,
    layout: str = "paper",
    complications: Iterable[str] | None = None,
    think: bool = True,
    answer_layout: str = "paper",
    question_style: str = "criteria",
    negative_quote: str = "trap",
) -> list[dict[str, Any]]:
    """Prompt/completion pairs from gold labels: one per case (comprehensive) or per case x complication
    (targeted). A case that fails is reported by id in a warning, never dropped silently."""
    check_strategy_layout(strategy, layout)
    definitions = as_definitions(definitions)
    cids = definitions.select(complications)
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    for case in cases:
        try:
            rows.extend(
                _ROWS[strategy](case, definitions, layout, cids, think, answer_layout, question_style, negative_quote)
            )
        except (ValueError, KeyError, TypeError) as e:
            failed.append(f"{case.case_id} ({e})")
    if failed:
        # a warning, not a log line: the user must act: cases left out of training
        warnings.warn(f"sft_examples: {len(failed)} case(s) skipped: {'; '.join(failed[:10])}", stacklevel=2)
    return rows


def build_prompt_files(
    cases: Sequence[Case],
    definitions: Definitions | str | Path | None,
    out_dir: str | Path,
    strategy: str = "targeted",
    layout: str = "paper",
    think: bool = True,
    complications: Iterable[str] | None = None,
    answer_layout: str = "paper",
    question_style: str = "criteria",
    negative_quote: str = "trap",
) -> dict[str, Any]:
    """Write <strategy>_prompts.json in the authors' shape ({case_id: {zh heading: prompt}} or
    {case_id: prompt}) and sft_targets.json (same shape, gold answers), atomically."""
    from tqdm.auto import tqdm

    definitions = as_definitions(definitions)
    mismatched = [c.case_id for c in cases if c.language != definitions.language]
    if mismatched:
        # a warning, not a log line: the user must act: records and definitions differ in language
        warnings.warn(
            f"{len(mismatched)} case(s) are language != {definitions.language!r} definitions "
            f"(e.g. {mismatched[:3]}); prompts follow the definitions' language",
            stacklevel=2,
        )
    prompts: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    for case in tqdm(cases, desc=f"{strategy} prompts", unit="case"):
        rows = sft_examples(
            [case], strategy, definitions, layout, complications, think, answer_layout, question_style, negative_quote
        )
        if strategy == "comprehensive":
            prompts[case.case_id], targets[case.case_id] = (
                (rows[0]["prompt"], rows[0]["completion"]) if rows else (None, None)
            )
        else:
            prompts[case.case_id] = {taxonomy.zh_heading(r["complication"]): r["prompt"] for r in rows}
            targets[case.case_id] = {taxonomy.zh_heading(r["complication"]): r["completion"] for r in rows}
    out_dir = Path(out_dir)
    prompts_path = write_json(out_dir / f"{strategy}_prompts.json", prompts)
    targets_path = write_json(out_dir / "sft_targets.json", targets)
    return {"prompts": prompts, "targets": targets, "prompts_path": prompts_path, "targets_path": targets_path}
