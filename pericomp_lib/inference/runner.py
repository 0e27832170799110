"""Run orchestration of stage 04: which answers raw.jsonl already holds, and the batches of jobs (jobs.py)
handed to the decoding engine (decoding.py); answers are written to raw.jsonl the moment they exist.

A prompt_hash (settings + prompt, jobs.job_hash) identifies each answer, so a resumed run redoes only what is
missing or stale. `infer` is the whole stage: prompts -> raw.jsonl -> {model: {case: {item: text}}}.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import groupby

from . import constrained, runstore
from .decoding import OnDone, generate_full, generate_shared, prefix_cache, variant
from .jobs import (
    Job,
    adapter_identity,
    build_jobs,
    check_frozen_record,
    context_limit,
    grammar_for,
    job_hash,
    settings_key,
)

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    generated: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    incomplete: dict = field(default_factory=dict)  # {model: [case ids lacking an answer]}
    p_true: dict = field(default_factory=dict)  # {model: {case_id: {item: P(True) or None}}}
    calibration: dict = field(default_factory=dict)  # the same for the calibration (training) cases
    backoffs: int = 0  # answers given again with the quote "none" (quote_backoff): their quote left the record

    def merge(self, other: RunSummary) -> None:
        self.generated += other.generated
        self.skipped += other.skipped
        self.failed += other.failed
        self.seconds += other.seconds
        self.backoffs += other.backoffs
        self.errors += other.errors

    def __str__(self) -> str:
        s = (
            f"{self.generated} answers generated, {self.skipped} already in raw.jsonl, {self.failed} failed "
            f"in {self.seconds:.1f} s"
            + (f" ({self.backoffs} with the quote 'none': theirs left the record)" if self.backoffs else "")
        )
        return s + "".join(f"\n  {e}" for e in self.errors[:10])


@dataclass
class Arm:
    """Jobs answered with one set of settings for some model variants: the run's own, or the comprehensive arm."""

    jobs: Sequence[Job]
    params: dict
    variants: Sequence[str] = ("base",)
    grammar: constrained.Grammar | constrained.GroundedGrammars | None = None


def run(
    model,
    tokenizer,
    jobs: Sequence[Job],
    params: dict,
    store: runstore.RunStore,
    variants: Sequence[str] = ("base",),
    adapter_id: str | None = None,
    progress: bool = True,
    grammar: constrained.Grammar | constrained.GroundedGrammars | None = None,
) -> RunSummary:
    """Answer every job for every model variant, skipping what raw.jsonl already holds.

    Jobs that share a head are answered from one KV cache of it. A failing batch (out of memory, a bad
    prompt) and a prompt longer than the model's context are counted and reported; the run goes on.
    """
    return run_arms(model, tokenizer, [Arm(jobs, params, variants, grammar)], store, adapter_id, progress)[0]


def run_arms(
    model, tokenizer, arms: Sequence[Arm], store: runstore.RunStore, adapter_id: str | None = None, progress=True
) -> list[RunSummary]:
    """`run` for several arms at once: where jobs of different arms share a head (a case's targeted questions
    and its brief comprehensive question), the head's KV cache is computed once for all of them. One summary
    per arm; a shared head's prefill counts in the first arm that uses it. With `frozen_record` (the adapter
    reads the record through the base model) one pass answers every variant from one base prefill per head, base
    and adapter questions decoded in the same batch (peft's per-row adapter_names); otherwise each variant has its
    own pass and prefill."""
    summaries = [RunSummary() for _ in arms]
    n_cases = len({j.case_id for a in arms for j in a.jobs})
    variants = list(dict.fromkeys(w for a in arms for w in a.variants))
    pending = {
        which: [
            _pending(a.jobs, store, which, settings_key(a.params, which, adapter_id), summaries[i])
            if which in a.variants
            else {}
            for i, a in enumerate(arms)
        ]
        for which in variants
    }
    frozen = any(a.params.get("frozen_record") for a in arms)
    for group in [variants] if frozen else [[w] for w in variants]:
        todo = [  # per arm: {head: [(job, prompt_hash, variant)]}, variant by variant
            {
                h: [(j, ph, w) for w in group for j, ph in pending[w][i].get(h, ())]
                for h in dict.fromkeys(h for w in group for h in pending[w][i])
            }
            for i in range(len(arms))
        ]
        heads = list(dict.fromkeys(h for groups in todo for h in groups))
        bar, tick = _case_progress(
            {h: [x for g in todo for x in g.get(h, ())] for h in heads}, n_cases, "+".join(group), progress
        )
        with nullcontext() if frozen else variant(model, group[0]):
            for head_text in heads:
                head, cache = _ids(tokenizer, head_text), None  # frozen: one base prefill for every variant
                for arm, groups, summary in zip(arms, todo, summaries):
                    if head_text in groups:
                        t0 = time.perf_counter()
                        cache = _answer_group(
                            model, tokenizer, head, groups[head_text], store, arm, summary, tick, cache, frozen
                        )
                        summary.seconds += time.perf_counter() - t0
        bar.close()
    return summaries


def _answer_group(model, tokenizer, head, entries, store, arm: Arm, summary: RunSummary, tick, cache, frozen=False):
    """One arm's jobs behind one head, `entries` (job, prompt_hash, variant); returns the head's KV cache (computed
    here if `cache` is None: by the base model whatever the variant when `frozen`, as frozen_record adapters read
    records). Without `frozen` the caller has switched the model to the entries' one variant."""
    batch_size = int(arm.params.get("inference_batch_size", 8))
    max_new = int(arm.params["max_new_tokens"])
    after = "</think>" if arm.params.get("enable_thinking") else None
    fits = _drop_too_long(tokenizer, head, entries, max_new, context_limit(model), summary, tick)
    if not fits:
        return cache
    if not head:  # a chunk holds one variant's jobs, and one case's only where grammars are per case
        per_case = isinstance(arm.grammar, constrained.GroundedGrammars)
        key = (lambda x: (x[2], x[0].case_id)) if per_case else (lambda x: x[2])
        for group in [list(g) for _, g in groupby(fits, key=key)]:
            with variant(model, group[0][2]) if frozen else nullcontext():
                for start in range(0, len(group), batch_size):
                    chunk = group[start : start + batch_size]
                    grammar = _grammar(arm, chunk[0][0])
                    _answer_full(model, tokenizer, chunk, store, max_new, after, summary, grammar)
                    tick(chunk)
        return cache
    if cache is None:
        try:
            with variant(model, "base") if frozen else nullcontext():
                cache = prefix_cache(model, head)
        except Exception as e:  # noqa: BLE001 - one bad case must not end the run
            _failed(fits, e, summary)
            tick(fits)
            return None
    grammar = _grammar(arm, fits[0][0])  # one head, one case
    names = _adapter_names(model, fits) if frozen else None
    _answer_shared(
        model, tokenizer, head, fits, store, batch_size, max_new, after, summary, grammar, tick, cache, names
    )
    return cache


def _adapter_names(model, entries) -> list[str] | None:
    """peft's per-row adapter of each entry ("__base__" for base answers); None for a model without an adapter
    (its answers are all base answers)."""
    if not hasattr(model, "peft_config"):
        return None
    return ["__base__" if which == "base" else model.active_adapter for _, _, which in entries]


def _grammar(arm: Arm, job: Job) -> constrained.Grammar | None:
    return arm.grammar.for_case(job.case_id) if arm.grammar is not None else None


def _pending(
    jobs: Sequence[Job], store: runstore.RunStore, which: str, settings: dict, summary: RunSummary
) -> dict[str, list[tuple[Job, str]]]:
    """{head: [(job, prompt_hash)]} of the jobs raw.jsonl lacks for this variant (the others count as skipped)."""
    groups: dict[str, list[tuple[Job, str]]] = {}
    for j in jobs:
        h = job_hash(j, settings)
        if store.get(j.case_id, j.item, which, h) is None:
            groups.setdefault(j.head, []).append((j, h))
        else:
            summary.skipped += 1
    return groups


def _case_progress(groups: dict[str, list[tuple]], n_cases: int, which: str, progress: bool):
    """(progress bar over cases, tick): tick(chunk) advances the bar for each case whose last job is in chunk."""
    from tqdm.auto import tqdm

    todo_cases = {x[0].case_id for g in groups.values() for x in g}
    bar = tqdm(
        total=n_cases,
        initial=n_cases - len(todo_cases),
        unit="case",
        desc=f"{which:7s}",
        disable=not progress,
        dynamic_ncols=True,
    )
    left = {c: sum(1 for g in groups.values() for x in g if x[0].case_id == c) for c in todo_cases}
    done_cases: set[str] = set()

    def tick(chunk) -> None:
        for x in chunk:
            case_id = x[0].case_id
            left[case_id] -= 1
            if left[case_id] == 0 and case_id not in done_cases:
                done_cases.add(case_id)
                bar.update(1)

    return bar, tick


def _drop_too_long(
    tokenizer, head: list[int], entries, max_new: int, limit: int | None, summary: RunSummary, tick
) -> list:
    """The entries whose prompt + max_new_tokens fit the model's context; the others are counted as failed."""
    fits, too_long = _check_lengths(tokenizer, head, entries, max_new, limit)
    if too_long:
        _failed(
            too_long,
            ValueError(
                f"prompt longer than the model's context: {_ids_len(tokenizer, head, too_long[0][0])} "
                f"tokens + {max_new} new > {limit}; shorten the record or use a model with a longer context"
            ),
            summary,
        )
        tick(too_long)
    return fits


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids if text else []


def _ids_len(tokenizer, head: list[int], job: Job) -> int:
    return len(head) + len(_ids(tokenizer, job.tail))


def _check_lengths(tokenizer, head: list[int], entries, max_new: int, limit: int | None):
    """(entries that fit, entries whose prompt + max_new_tokens passes the model's context)."""
    if not limit:
        return entries, []
    fits, too_long = [], []
    for x in entries:
        (fits if _ids_len(tokenizer, head, x[0]) + max_new <= limit else too_long).append(x)
    return fits, too_long


def _writer(tokenizer, chunk, store, summary: RunSummary, written: set) -> OnDone:
    def done(row: int, ids: list[int], seconds: float, p_true: float | None = None) -> None:
        job, h, which = chunk[row]
        written.add(row)
        backoff = done.backoffs.pop(row, None)
        summary.backoffs += backoff is not None
        store.append(
            {
                "case_id": job.case_id,
                "item": job.item,
                "model": which,
                "prompt_hash": h,
                "text": tokenizer.decode(ids, skip_special_tokens=True),
                "n_tokens": len(ids),
                "seconds": round(seconds, 3),
                "batch": len(chunk),
                "p_true": p_true,
                "backoff": backoff,
            }
        )
        summary.generated += 1

    done.backoffs = {}  # {row: refused quote} from decoding's on_backoff, for raw.jsonl's "backoff"
    return done


def _failed(chunk, err: Exception, summary: RunSummary, written: set = frozenset()) -> None:
    lost = [x for i, x in enumerate(chunk) if i not in written]
    summary.failed += len(lost)
    which = "+".join(dict.fromkeys(x[2] for x in lost))
    items = ", ".join(f"{x[0].case_id}/{x[0].item}" for x in lost[:4]) + (" ..." if len(lost) > 4 else "")
    summary.errors.append(f"{which}: {len(lost)} answer(s) failed ({items}): {type(err).__name__}: {err}")


def _answer_shared(
    model, tokenizer, head, entries, store, batch_size, max_new, after, summary, grammar, tick, cache, names=None
) -> None:
    for start in range(0, len(entries), batch_size):
        chunk = entries[start : start + batch_size]
        rows = names[start : start + batch_size] if names else None
        one = rows is not None and len(set(rows)) == 1  # one variant: switched as a whole, no per-row routing
        scope = variant(model, "base" if rows[0] == "__base__" else "adapter") if one else nullcontext()
        written: set = set()
        done = _writer(tokenizer, chunk, store, summary, written)
        try:
            with scope:
                generate_shared(
                    model,
                    tokenizer,
                    head,
                    [_ids(tokenizer, x[0].tail) for x in chunk],
                    max_new,
                    stop_after=after,
                    on_done=done,
                    cache=cache,
                    grammar=grammar,
                    adapter_names=None if one else rows,
                    on_backoff=done.backoffs.__setitem__,
                )
        except Exception as e:  # noqa: BLE001
            _failed(chunk, e, summary, written)
        tick(chunk)


def _answer_full(model, tokenizer, chunk, store, max_new, after, summary, grammar=None) -> None:
    written: set = set()
    done = _writer(tokenizer, chunk, store, summary, written)
    try:
        generate_full(
            model,
            tokenizer,
            [_ids(tokenizer, x[0].head) + _ids(tokenizer, x[0].tail) for x in chunk],
            max_new,
            stop_after=after,
            on_done=done,
            grammar=grammar,
            on_backoff=done.backoffs.__setitem__,
        )
    except Exception as e:  # noqa: BLE001
        _failed(chunk, e, summary, written)


def collect(
    store: runstore.RunStore,
    jobs: Sequence[Job],
    params: dict,
    variants: Sequence[str],
    adapter_id: str | None = None,
    key: str = "text",
) -> tuple[dict, dict]:
    """({model: {case_id: {item: row[key]}}} of complete cases, {model: [incomplete case ids]});
    key "text" gives the answers, "p_true" the decision probabilities."""
    answers: dict = {}
    incomplete: dict = {}
    for which in variants:
        settings = settings_key(params, which, adapter_id)
        per_case: dict = {}
        bad: set = set()
        for j in jobs:
            row = store.get(j.case_id, j.item, which, job_hash(j, settings))
            if row is None:
                bad.add(j.case_id)
            else:
                per_case.setdefault(j.case_id, {})[j.item] = row.get(key)
        answers[which] = {c: v for c, v in per_case.items() if c not in bad}
        incomplete[which] = sorted(bad)
    return answers, incomplete


def decision_only(params: dict) -> dict:
    """Params that stop each targeted answer right after its decision: with the decision first and a schema,
    the answer's first free token is the decision, so P(True) needs one decode step (calibration cases)."""
    if params.get("constrained") and params.get("answer_layout") == "decision_first":
        return {**params, "max_new_tokens": 1}
    return dict(params)


def infer(
    params: dict,
    cases: Sequence,
    out_dir,
    adapter: str | None = None,
    definitions=None,
    model=None,
    tokenizer=None,
    progress: bool = True,
    calibration: Sequence = (),
) -> tuple[dict, RunSummary]:
    """The whole of stage 04's generation: prompts -> raw.jsonl (resumable) -> {model: {case: {item: text}}}.

    Base and adapter answers come from one loaded model (the adapter is switched off for 'base'). With
    `comprehensive_arm` a targeted run also asks the base model the comprehensive prompt (Figure 6b's
    third arm, model "comprehensive"). `calibration` cases (training split) get targeted decisions only,
    for an operating point chosen away from the evaluation cases. summary.p_true and
    summary.calibration hold {model: {case_id: {complication: P(True)}}}.
    """
    from pathlib import Path

    from ..llm import models
    from ..prompting.definitions import load_definitions

    if not cases:
        raise ValueError("no cases to answer: the split is empty (check split / max_cases and the cohort's splits)")
    adapter = adapter if adapter is not None else params.get("adapter")
    check_frozen_record(adapter, params)
    if model is None:
        model, tokenizer = models.load_model(params, adapter=adapter)
    defs = load_definitions(
        definitions if definitions is not None else params.get("definitions"), language=params.get("language", "en")
    )
    variants = ("base", "adapter") if adapter else ("base",)
    adapter_id = adapter_identity(adapter) if adapter else None
    store = runstore.RunStore(Path(out_dir) / "raw.jsonl")
    total = RunSummary()
    answers: dict = {}
    p_true: dict = {}
    arms = _arms(params, variants, tokenizer, defs)
    runs = [
        Arm(build_jobs(cases, tokenizer, defs, p), p, v, grammar_for(tokenizer, p, defs, cases)) for p, v, _ in arms
    ]
    for arm, (_, _, name), summary in zip(runs, arms, run_arms(model, tokenizer, runs, store, adapter_id, progress)):
        log.info("%s: %s", name or arm.params["strategy"], summary)
        total.merge(summary)
        got, incomplete = collect(store, arm.jobs, arm.params, arm.variants, adapter_id)
        probs, _ = collect(store, arm.jobs, arm.params, arm.variants, adapter_id, key="p_true")
        for which, ids in incomplete.items():
            if ids:
                log.warning(
                    "%s: %d case(s) lack answers and are left out of the predictions: %s (re-run to retry them)",
                    name or which,
                    len(ids),
                    ids[:10],
                )
        for which in arm.variants:
            answers[name or which], p_true[name or which] = got[which], probs[which]
            total.incomplete[name or which] = incomplete[which]
    if calibration and params["strategy"] == "targeted":
        _calibrate(model, tokenizer, calibration, params, defs, store, variants, adapter_id, progress, total)
    total.p_true = p_true
    return answers, total


def _arms(params: dict, variants: Sequence[str], tokenizer, defs) -> list[tuple[dict, Sequence[str], str | None]]:
    """(params, model variants, name) of each arm: the run's own, and with `comprehensive_arm` (targeted runs)
    the base model asked the comprehensive prompt, named "comprehensive"."""
    arms = [(params, variants, None)]
    if params.get("comprehensive_arm") and params["strategy"] == "targeted":
        comp = {**params, "strategy": "comprehensive"}
        if params.get("constrained"):  # room for the longest list the schema allows: every answer closes
            comp["max_new_tokens"] = max(
                int(params["max_new_tokens"]), constrained.comprehensive_budget(tokenizer, comp, defs.language)
            )
        arms.append((comp, ("base",), "comprehensive"))
    return arms


def _calibrate(
    model,
    tokenizer,
    calibration: Sequence,
    params: dict,
    defs,
    store,
    variants,
    adapter_id,
    progress,
    total: RunSummary,
) -> None:
    """Targeted decisions only for the calibration (training) cases: their P(True) go to total.calibration."""
    cal_params = decision_only(params)
    jobs = build_jobs(calibration, tokenizer, defs, cal_params)
    summary = run(
        model,
        tokenizer,
        jobs,
        cal_params,
        store,
        variants,
        adapter_id,
        progress,
        grammar_for(tokenizer, cal_params, defs, calibration),
    )
    log.info("calibration (%d training cases): %s", len(calibration), summary)
    total.merge(summary)
    total.calibration, _ = collect(store, jobs, cal_params, variants, adapter_id, key="p_true")
