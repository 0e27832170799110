"""What an answer is and what decides it: the jobs of a run (one per answer, prompt split into a shared head
and a tail), and the settings, adapter identity and answer schema that, with the prompt, make each job's
prompt_hash in raw.jsonl. Running the jobs is runner.py's; decoding them, decoding.py's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core import taxonomy
from . import constrained, runstore


@dataclass
class Job:
    """One answer to produce: the prompt is head + tail (head is "" unless the layout shares a prefix)."""

    case_id: str
    item: str  # complication id (targeted) or "comprehensive"
    head: str
    tail: str


def build_jobs(cases: Sequence, tokenizer, definitions, params: dict) -> list[Job]:
    """Every answer a run needs, in case order, from the prompts module (the one place prompts are built).

    shared_prefix: a targeted case's questions share the head (chat start + record); comprehensive
    prompts of all cases share the head (instructions + definitions), the record being their tail, except
    with question_style brief, where the comprehensive question shares its case's targeted head."""
    from ..prompting import chat, prompts

    think = bool(params.get("enable_thinking", False))
    style = {
        "answer_layout": params.get("answer_layout", "paper"),
        "question_style": params.get("question_style", "criteria"),
    }
    shared = params["prompt_layout"] == "shared_prefix"
    jobs: list[Job] = []
    for case in cases:
        if params["strategy"] == "comprehensive":
            cthink = params.get("comprehensive_think", True)
            asked = params.get("complications") if params.get("comprehensive_scope") == "asked" else None
            if shared and style["question_style"] in prompts.BRIEF_STYLES:  # the head of the case's targeted jobs
                question = prompts.comprehensive_question(definitions, cthink, asked)
                head, tail = chat.chat_prefix_suffix(
                    tokenizer, prompts.targeted_prefix(case.record, definitions), question, think
                )
                jobs.append(Job(case.case_id, "comprehensive", head, tail))
            elif shared:
                head, tail = chat.chat_prefix_suffix(
                    tokenizer, prompts.comprehensive_prompt("", definitions, cthink, asked), case.record, think
                )
                jobs.append(Job(case.case_id, "comprehensive", head, tail))
            else:
                text = prompts.comprehensive_prompt(case.record, definitions, cthink, asked)
                jobs.append(Job(case.case_id, "comprehensive", "", chat.chat_text(tokenizer, text, think)))
        elif shared:
            prefix = prompts.targeted_prefix(case.record, definitions)
            for heading in prompts.targeted_prompts(
                case.record, definitions, "shared_prefix", params.get("complications"), **style
            ):
                cid = taxonomy.canonical_id(heading)
                question = prompts.targeted_question(definitions, cid, **style)
                head, tail = chat.chat_prefix_suffix(tokenizer, prefix, question, think)
                jobs.append(Job(case.case_id, cid, head, tail))
        else:
            for heading, text in prompts.targeted_prompts(
                case.record, definitions, "paper", params.get("complications"), **style
            ).items():
                jobs.append(
                    Job(case.case_id, taxonomy.canonical_id(heading), "", chat.chat_text(tokenizer, text, think))
                )
    return jobs


def settings_key(params: dict, which: str, adapter_id: str | None) -> dict:
    """What besides the prompt decides an answer; part of every prompt_hash so stale answers are redone."""
    key = {
        "model": params["model_name_or_path"],
        "quantization": params.get("quantization"),
        "dtype": params.get("dtype"),
        "adapter": adapter_id if which == "adapter" else None,
        "max_new_tokens": int(params["max_new_tokens"]),
        "enable_thinking": bool(params.get("enable_thinking")),
    }
    if params.get("constrained"):  # absent for free generation, so the answers of earlier runs keep their hash
        key.update(constrained=True, think_max_chars=params.get("think_max_chars"))
        if _grounded(params):  # absent when off: the answers of earlier runs keep their hash
            key["grounded_think"] = True
            if params.get("quote_backoff"):
                key["quote_backoff"] = True
    if which == "adapter" and params.get("frozen_record"):  # the adapter reads the base model's record KV
        key["frozen_record"] = True
    return key


def _grounded(params: dict) -> bool:
    """grounded_think applies to targeted answers only: the comprehensive list has no quote."""
    return bool(params.get("grounded_think")) and params.get("strategy") == "targeted"


def grammar_for(
    tokenizer, params: dict, definitions, cases: Sequence = ()
) -> constrained.Grammar | constrained.GroundedGrammars | None:
    """The answer schema of a run (None: the paper's free generation); with grounded_think, a targeted run's
    grammars are per case, from `cases`' records."""
    if not params.get("constrained"):
        return None
    if _grounded(params):
        records = {c.case_id: c.record for c in cases}
        return constrained.GroundedGrammars(tokenizer, params, definitions.language, records)
    return constrained.Grammar(tokenizer, constrained.schema_for(params, definitions.language))


def context_limit(model) -> int | None:
    """The longest sequence the model was trained for (prompt + answer must fit)."""
    return getattr(getattr(model, "config", None), "max_position_embeddings", None)


def adapter_identity(adapter: str | None) -> str | None:
    """A local adapter is identified by its weights' hash (retraining invalidates old answers); a hub id by name."""
    if not adapter:
        return None
    from ..llm.models import adapter_folder

    folder = Path(adapter_folder(adapter))
    weights = [p for p in sorted(folder.glob("adapter_model.*")) if p.is_file()]
    if not weights:
        return str(adapter)
    h = hashlib.sha256()
    for p in weights:
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def check_frozen_record(adapter: str | None, params: dict) -> None:
    """An adapter trained with frozen_record reads records through the base model, one trained without it through
    itself: answering with the other way gives wrong answers, so a mismatch with the adapter's own training
    params (adapter/training_params.json, written by 03) stops 04 before any answer."""
    if not adapter:
        return
    path = Path(adapter).expanduser()
    meta = next(
        (m for m in (path / "training_params.json", path / "adapter" / "training_params.json") if m.is_file()), None
    )
    if meta is None:
        return  # a published adapter (hub id, or a folder without our training params): the params decide
    trained = bool(json.loads(meta.read_text(encoding="utf-8")).get("params", {}).get("frozen_record"))
    if trained != bool(params.get("frozen_record")):
        raise ValueError(
            f"{meta}: the adapter was trained with frozen_record: {str(trained).lower()}, but the params say "
            f"{str(bool(params.get('frozen_record'))).lower()}; set frozen_record: {str(trained).lower()} (or "
            "train the adapter again with 03)"
        )


def job_hash(job: Job, settings: dict) -> str:
    return runstore.prompt_hash(settings, job.head, job.tail)
