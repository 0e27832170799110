"""Validation trials: base and adapter answer the same guidance questions about the same held-out subjects.

As the original study's `run.sh n`: n subjects of the validation split drawn with the seed, the guidance
questions asked round-robin, base model and adapter side by side, greedy by default. Unlike it, each trial
passes the subject's real context, and each answer is scored without a person against the question's ideal
answer and must-have facts (scoring.py). Answers go to qa_raw.jsonl one line at a time (inference's RunStore:
a killed run resumes where it stopped and gives the same rows); validation.csv is rewritten whole, atomically.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ..core.io import atomic_write_text
from ..inference.runstore import RunStore, path_digest, prompt_hash
from . import context as chart_context
from . import qa, questions, scoring

log = logging.getLogger(__name__)

RAW = "qa_raw.jsonl"
TABLE = "validation.csv"
MODELS = ("base", "adapter")
METRICS = (
    "must_have_recall",
    "warning_recall",
    "chart_fact_recall",
    "rouge_l",
    "section_adherence",
    "names_disease",
    "words",
)


@dataclass(frozen=True)
class Trial:
    trial: int
    subject_id: int
    question_id: str


def draw_trials(
    subjects: dict[int, dict], guidance: list[dict], n: int, seed: int, drop: frozenset[str] = frozenset()
) -> list[Trial]:
    """n trials: validation-split subjects in a seeded order, the questions round-robin. Trial i starts at
    question i % Q and takes the first question from there whose topic the subject's chart fires (so the answer
    has chart facts to use); a chart that fires none gets question i % Q. Subjects are reused only when n
    exceeds them, and that is said."""
    from ..cohort.mimic import subject_split
    from .topics import matching_topics

    ids = sorted(sid for sid in subjects if subject_split(sid, seed) == "validation")
    if not ids:
        raise qa.QAError("no subject of subjects.jsonl falls in the validation split; ingest more subjects")
    random.Random(f"{seed}:trials").shuffle(ids)
    if n > len(ids):
        log.warning("%d trials on %d validation subjects: subjects are asked more than one question", n, len(ids))
    out = []
    for i in range(n):
        sid = ids[i % len(ids)]
        fired = {t.id for t in matching_topics(chart_context.patient_context(subjects[sid], drop=drop).facts)}
        order = [guidance[(i + k) % len(guidance)] for k in range(len(guidance))]
        q = next((q for q in order if q["topic"] in fired), order[0])
        out.append(Trial(i, sid, q["id"]))
    return out


def first_trial_subject(params: dict, subjects: dict[int, dict]) -> int:
    """The subject of trial 0: the notebook's QA-by-subject example asks about a subject the trials hold out."""
    guidance = questions.load_questions(params.get("qa_questions"))
    return draw_trials(subjects, guidance, 1, int(params["seed"]))[0].subject_id


def _adapter_identity(adapter: str | None) -> str | None:
    if not adapter:
        return None
    weights = next(iter(sorted(Path(adapter).glob("adapter_model.*"))), None)
    return str(path_digest(weights)) if weights else str(adapter)


def run_trials(params: dict, run_dir: str | os.PathLike, loaded=None, progress: bool = True) -> pd.DataFrame:
    """Answer every trial with base and adapter (resuming from qa_raw.jsonl), score, write validation.csv."""
    run_dir = Path(run_dir)
    subjects = qa.load_subjects(run_dir / "subjects.jsonl")
    guidance = questions.load_questions(params.get("qa_questions"))
    by_id = {q["id"]: q for q in guidance}
    drop = qa.dropped_columns(run_dir)
    trials = draw_trials(subjects, guidance, int(params["qa_trials"]), int(params["seed"]), drop)
    model, tok, adapter = loaded or qa.load(params, run_dir)
    models = MODELS if adapter else ("base",)
    if not adapter:
        log.warning("%s: no adapter/ (03b not run): the trials answer with the base model only", run_dir)
    limit, max_new = qa.context_limit(model, tok), int(params["qa_max_new_tokens"])
    temperature = float(params.get("qa_temperature") or 0.0)
    prompts, contexts = {}, {}
    for t in trials:
        ctx = chart_context.patient_context(subjects[t.subject_id], drop=drop)
        prompts[t], _context_used, _cut = qa.fit_prompt(tok, ctx.text, by_id[t.question_id]["question"], limit, max_new)
        contexts[t] = ctx
    store = RunStore(run_dir / RAW)
    identity = {"base": None, "adapter": _adapter_identity(adapter)}
    batch = max(1, int(params.get("inference_batch_size") or 8))
    failed = []
    keys = {
        name: {
            t: prompt_hash(prompts[t], max_new, temperature, int(params["seed"]) + t.trial, identity[name])
            for t in trials
        }
        for name in models
    }  # one hash per (trial, model): the store's key, for answering and for reading back
    for name in models:
        key = keys[name]
        todo = [t for t in trials if store.get(str(t.trial), t.question_id, name, key[t]) is None]
        bar = tqdm(total=len(todo), desc=f"trials ({name})", unit="answer", disable=not progress, mininterval=15)
        for i in range(0, len(todo), batch):
            chunk = todo[i : i + batch]
            try:
                out = _answer(
                    model,
                    adapter,
                    name,
                    tok,
                    [prompts[t] for t in chunk],
                    max_new,
                    temperature,
                    [int(params["seed"]) + t.trial for t in chunk],
                )
            except Exception as e:  # noqa: BLE001 - one bad batch is counted and reported, the run goes on
                failed += [(t.trial, name, f"{type(e).__name__}: {e}") for t in chunk]
                log.warning(
                    "trials %s: batch of %d failed (%s: %s); re-run to retry", name, len(chunk), type(e).__name__, e
                )
                bar.update(len(chunk))
                continue
            for t, (text, n_tok, sec) in zip(chunk, out):
                store.append(
                    {
                        "case_id": str(t.trial),
                        "item": t.question_id,
                        "model": name,
                        "prompt_hash": key[t],
                        "text": text,
                        "n_tokens": n_tok,
                        "seconds": sec,
                        "batch": len(chunk),
                    }
                )
            bar.update(len(chunk))
        bar.close()
    if failed:
        log.warning("%d answer(s) failed and are left out of validation.csv: %s", len(failed), failed[:5])
    rows = []
    for t in trials:
        q = by_id[t.question_id]
        subj = subjects[t.subject_id]
        must = questions.must_have_for(q, contexts[t].facts)
        row = {
            "trial": t.trial,
            "subject_id": t.subject_id,
            "question_id": q["id"],
            "topic": q["topic"],
            "question": q["question"],
            "ideal": q["ideal"],
        }
        for name in models:
            got = store.get(str(t.trial), t.question_id, name, keys[name][t])
            if got is None:
                continue
            row[f"{name}_answer"] = got["text"]
            row[f"{name}_latency_s"] = got["seconds"]
            row[f"{name}_tokens"] = got["n_tokens"]
            row.update({f"{name}_{m}": v for m, v in score_answer(got["text"], q, must, subj).items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    atomic_write_text(run_dir / TABLE, df.to_csv(index=False))
    log.info("%s: %d trials, models %s", run_dir / TABLE, len(df), ", ".join(models))
    return df


def _answer(model, adapter, name, tok, prompts, max_new, temperature, seeds):
    if adapter and name == "base":
        with model.disable_adapter():
            return qa.generate(model, tok, prompts, max_new, temperature, seeds)
    return qa.generate(model, tok, prompts, max_new, temperature, seeds)


def score_answer(answer: str, question: dict, must_have: list[dict], subject: dict) -> dict:
    """Every per-answer score of the trials (scoring.py says how each is computed)."""
    return {
        "must_have_recall": scoring.must_have_recall(answer, must_have),
        "warning_recall": scoring.warning_recall(answer, must_have),  # the topic's urgent signs alone
        "chart_fact_recall": scoring.chart_fact_recall(answer, must_have),
        "rouge_l": scoring.rouge_l(answer, question["ideal"]),
        "section_adherence": float(scoring.section_adherence(answer)),
        "names_disease": float(scoring.names_disease(answer, subject)),
        "words": len(answer.split()),
    }


def trial_rows(trials: list[Trial]) -> list[dict]:
    return [asdict(t) for t in trials]
