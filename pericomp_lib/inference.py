"""Greedy batched generation with a shared-prefix KV cache and an early stop at the closed JSON answer.

Why our own decoding loop instead of `model.generate`: the targeted strategy asks 22 questions about the
same record, so the record's KV cache is computed once and copied into every row of a batch; rows that
have closed their JSON answer leave the batch at once (the cache shrinks with them), and every answer is
handed to the caller the moment it exists, so a run killed mid-batch loses as little as possible.
`JsonAnswerStop` is a regular `transformers.StoppingCriteria`, so `model.generate` can use it too.

Token ids of a prompt are always ids(head) + ids(tail), each part tokenized alone, in every mode; that
makes "one full prompt at a time", "batched" and "batched with a shared prefix" feed the model exactly
the same tokens, so their greedy answers can be compared one to one.
"""
from __future__ import annotations

import copy
import hashlib
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import torch
from transformers import DynamicCache, StoppingCriteria

from . import runstore, taxonomy

OnDone = Callable[[int, list[int], float], None]  # (row, generated ids, seconds since the batch started)


class JsonScanner:
    """Tracks one answer's text and says when its first top-level JSON object is closed.

    Braces inside JSON strings (and escaped quotes) do not count. With `after` set (e.g. "</think>"
    for reasoning models) scanning starts only once that marker has appeared.
    """

    def __init__(self, after: str | None = None):
        self.after = after
        self.waiting = bool(after)
        self.buf = ""  # only kept while waiting for `after`
        self.depth = 0
        self.started = False
        self.in_string = False
        self.escape = False
        self.closed = False

    def feed(self, piece: str) -> bool:
        if self.closed:
            return True
        if self.waiting:
            self.buf += piece
            at = self.buf.find(self.after)
            if at < 0:
                self.buf = self.buf[-len(self.after):]
                return False
            self.waiting = False
            piece, self.buf = self.buf[at + len(self.after):], ""
        for ch in piece:
            if not self.started:
                if ch == "{":
                    self.started, self.depth = True, 1
                continue
            if self.in_string:
                if self.escape:
                    self.escape = False
                elif ch == "\\":
                    self.escape = True
                elif ch == '"':
                    self.in_string = False
            elif ch == '"':
                self.in_string = True
            elif ch == "{":
                self.depth += 1
            elif ch == "}":
                self.depth -= 1
                if self.depth == 0:
                    self.closed = True
                    return True
        return False


def json_closed(text: str, after: str | None = None) -> bool:
    """True when `text` holds a complete top-level JSON object (after `after`, if given)."""
    return JsonScanner(after).feed(text)


class JsonAnswerStop(StoppingCriteria):
    """Stops each sequence once its JSON answer object is closed (EOS is handled by the caller/generate).

    Feed it the newest token of every row; `rows` maps batch rows to answer slots when finished rows
    have been dropped from the batch (our loop); `model.generate` calls it without `rows`.
    """

    def __init__(self, tokenizer, n_rows: int, after: str | None = None):
        self.tokenizer = tokenizer
        self.scanners = [JsonScanner(after) for _ in range(n_rows)]
        self._pieces: dict[int, str] = {}

    def piece(self, token_id: int) -> str:
        if token_id not in self._pieces:
            self._pieces[token_id] = self.tokenizer.decode([token_id], skip_special_tokens=False)
        return self._pieces[token_id]

    def __call__(self, input_ids: torch.LongTensor, scores=None, rows: Sequence[int] | None = None, **kwargs):
        rows = range(input_ids.shape[0]) if rows is None else rows
        last = input_ids[:, -1].tolist()
        done = [self.scanners[r].feed(self.piece(t)) for r, t in zip(rows, last)]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def eos_ids(model, tokenizer) -> set[int]:
    """Every id that ends an answer: the tokenizer's EOS and the model's generation-config EOS list."""
    ids: set[int] = set()
    for src in (tokenizer.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if src is None:
            continue
        ids.update(src if isinstance(src, (list, tuple)) else [src])
    return ids


@torch.no_grad()
def greedy(model, input_ids, attention_mask, position_ids, cache, max_new_tokens: int, stop: JsonAnswerStop | None,
           eos: set[int], on_done: OnDone | None = None) -> list[list[int]]:
    """Greedy decoding of a batch whose cache already holds everything before `input_ids`.

    attention_mask covers cache + input_ids; position_ids cover input_ids. Finished rows are dropped
    from the batch (and the cache) so the remaining rows run faster.
    """
    t0 = time.perf_counter()
    n = input_ids.shape[0]
    out: list[list[int]] = [[] for _ in range(n)]
    active = list(range(n))
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                   past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1, :]
    next_pos = position_ids[:, -1:] + 1
    while True:
        tokens = logits.argmax(dim=-1)
        tok_list = tokens.tolist()
        stopped = stop(tokens[:, None], None, rows=active).tolist() if stop is not None else [False] * len(active)
        keep: list[int] = []
        for i, (row, tid) in enumerate(zip(active, tok_list)):
            if tid in eos:
                finished = True
            else:
                out[row].append(tid)
                finished = stopped[i] or len(out[row]) >= max_new_tokens
            if finished:
                if on_done is not None:
                    on_done(row, out[row], time.perf_counter() - t0)
            else:
                keep.append(i)
        if not keep:
            return out
        if len(keep) < len(active):
            idx = torch.tensor(keep, device=tokens.device)
            cache.batch_select_indices(idx)
            attention_mask, next_pos, tokens = attention_mask[idx], next_pos[idx], tokens[idx]
            active = [active[i] for i in keep]
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(active), 1))], dim=1)
        logits = model(input_ids=tokens[:, None], attention_mask=attention_mask, position_ids=next_pos,
                       past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1, :]
        next_pos = next_pos + 1


def _right_aligned(seqs: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad to a common length (so every row's next token lands in the same column) with a 0 mask."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s):] = torch.tensor(list(s), dtype=torch.long)
            mask[i, width - len(s):] = 1
    return ids.to(device), mask.to(device)


def _positions(mask: torch.Tensor, offset: int) -> torch.Tensor:
    """Positions of real tokens count from `offset` (the cached prefix length); pads get any valid value."""
    return (mask.cumsum(dim=1) - 1).clamp(min=0) + offset


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _check(seqs: Sequence[Sequence[int]]) -> None:
    for i, s in enumerate(seqs):
        if not s:
            raise ValueError(f"prompt {i} has no tokens; every prompt needs text to answer")


def generate_full(model, tokenizer, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                  stop_after: str | None = None, json_stop: bool = True, on_done: OnDone | None = None):
    """Answers for whole prompts batched together (left padding, positions from the mask)."""
    _check(prompts)
    device = _device(model)
    ids, mask = _right_aligned(prompts, tokenizer.pad_token_id, device)
    stop = JsonAnswerStop(tokenizer, len(prompts), stop_after) if json_stop else None
    return greedy(model, ids, mask, _positions(mask, 0), DynamicCache(), max_new_tokens, stop,
                  eos_ids(model, tokenizer), on_done)


@torch.no_grad()
def prefix_cache(model, head: Sequence[int]) -> DynamicCache:
    """KV cache of the shared head (chat start + record), computed once per (case, model variant)."""
    device = _device(model)
    ids = torch.tensor([list(head)], dtype=torch.long, device=device)
    cache = DynamicCache()
    model(input_ids=ids, attention_mask=torch.ones_like(ids), past_key_values=cache, use_cache=True, logits_to_keep=1)
    return cache


def generate_shared(model, tokenizer, head: Sequence[int], tails: Sequence[Sequence[int]], max_new_tokens: int,
                    stop_after: str | None = None, json_stop: bool = True, on_done: OnDone | None = None,
                    cache: DynamicCache | None = None):
    """Answers for head + tail_i, the head's KV computed once (or passed in) and copied per row.

    Tails are right-aligned: left padding inside the suffix is masked out and real tokens keep the
    positions they have in the full prompt, so each answer equals the one the full prompt gets alone.
    """
    _check(tails)
    if not head:
        return generate_full(model, tokenizer, tails, max_new_tokens, stop_after, json_stop, on_done)
    device = _device(model)
    base = cache if cache is not None else prefix_cache(model, head)
    batch_cache = copy.deepcopy(base)
    batch_cache.batch_repeat_interleave(len(tails))
    ids, tail_mask = _right_aligned(tails, tokenizer.pad_token_id, device)
    mask = torch.cat([tail_mask.new_ones((len(tails), len(head))), tail_mask], dim=1)
    stop = JsonAnswerStop(tokenizer, len(tails), stop_after) if json_stop else None
    return greedy(model, ids, mask, _positions(tail_mask, len(head)), batch_cache, max_new_tokens, stop,
                  eos_ids(model, tokenizer), on_done)


@contextmanager
def variant(model, which: str) -> Iterator[None]:
    """'base' or 'adapter' answers from ONE loaded model: a PeftModel with its adapter disabled is the base."""
    if which not in ("base", "adapter"):
        raise ValueError(f"model variant {which!r}: use 'base' or 'adapter'")
    is_peft = hasattr(model, "disable_adapter") and hasattr(model, "peft_config")
    if which == "adapter":
        if not is_peft:
            raise ValueError("variant 'adapter' needs a model loaded with an adapter (params adapter / adapter_dir)")
        yield
    elif is_peft:
        with model.disable_adapter():
            yield
    else:
        yield


# ------------------------------------------------------------------------------------------ runs
@dataclass
class Job:
    """One answer to produce: the prompt is head + tail (head is "" unless the layout shares a prefix)."""
    case_id: str
    item: str  # complication id (targeted) or "comprehensive"
    head: str
    tail: str


@dataclass
class RunSummary:
    generated: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        s = (f"{self.generated} answers generated, {self.skipped} already in raw.jsonl, {self.failed} failed "
             f"in {self.seconds:.1f} s")
        return s + "".join(f"\n  {e}" for e in self.errors[:10])


def build_jobs(cases: Sequence, tokenizer, definitions, params: dict) -> list[Job]:
    """Every answer a run needs, in case order, from the prompts module (the one place prompts are built)."""
    from . import prompts

    think = bool(params.get("enable_thinking", False))
    jobs: list[Job] = []
    for case in cases:
        if params["strategy"] == "comprehensive":
            text = prompts.comprehensive_prompt(case.record, definitions, params.get("comprehensive_think", True))
            jobs.append(Job(case.case_id, "comprehensive", "", prompts.chat_text(tokenizer, text, think)))
        elif params["prompt_layout"] == "shared_prefix":
            prefix = prompts.targeted_prefix(case.record, definitions)
            for heading in prompts.targeted_prompts(case.record, definitions, "shared_prefix", params.get("complications")):
                cid = taxonomy.canonical_id(heading)
                head, tail = prompts.chat_prefix_suffix(tokenizer, prefix, prompts.targeted_question(definitions, cid), think)
                jobs.append(Job(case.case_id, cid, head, tail))
        else:
            for heading, text in prompts.targeted_prompts(case.record, definitions, "paper",
                                                          params.get("complications")).items():
                jobs.append(Job(case.case_id, taxonomy.canonical_id(heading), "", prompts.chat_text(tokenizer, text, think)))
    return jobs


def settings_key(params: dict, which: str, adapter_id: str | None) -> dict:
    """What besides the prompt decides an answer; part of every prompt_hash so stale answers are redone."""
    return {"model": params["model_name_or_path"], "quantization": params.get("quantization"),
            "dtype": params.get("dtype"), "adapter": adapter_id if which == "adapter" else None,
            "max_new_tokens": int(params["max_new_tokens"]), "enable_thinking": bool(params.get("enable_thinking"))}


def adapter_identity(adapter: str | None) -> str | None:
    """A local adapter is identified by its weights' hash (retraining invalidates old answers); a hub id by name."""
    if not adapter:
        return None
    from pathlib import Path

    from .models import adapter_folder

    folder = Path(adapter_folder(adapter))
    weights = [p for p in sorted(folder.glob("adapter_model.*")) if p.is_file()]
    if not weights:
        return str(adapter)
    h = hashlib.sha256()
    for p in weights:
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def job_hash(job: Job, settings: dict) -> str:
    return runstore.prompt_hash(settings, job.head, job.tail)


def run(model, tokenizer, jobs: Sequence[Job], params: dict, store: "runstore.RunStore",
        variants: Sequence[str] = ("base",), adapter_id: str | None = None, progress: bool = True) -> RunSummary:
    """Answer every job for every model variant, skipping what raw.jsonl already holds.

    A failing batch (out of memory, a bad prompt) is counted and reported; the run goes on.
    """
    from tqdm.auto import tqdm

    summary = RunSummary()
    t_start = time.perf_counter()
    batch_size = int(params.get("inference_batch_size", 8))
    max_new = int(params["max_new_tokens"])
    after = "</think>" if params.get("enable_thinking") else None
    shared = any(j.head for j in jobs)
    by_case: dict[str, list[Job]] = {}
    for j in jobs:
        by_case.setdefault(j.case_id, []).append(j)
    for which in variants:
        settings = settings_key(params, which, adapter_id)
        todo: dict[str, list[tuple[Job, str]]] = {}
        for case_id, case_jobs in by_case.items():
            for j in case_jobs:
                h = job_hash(j, settings)
                if store.get(j.case_id, j.item, which, h) is None:
                    todo.setdefault(case_id, []).append((j, h))
                else:
                    summary.skipped += 1
        bar = tqdm(total=len(by_case), initial=len(by_case) - len(todo), unit="case", desc=f"{which:7s}",
                   disable=not progress, dynamic_ncols=True)
        with variant(model, which):
            if shared:
                for case_id, pending in todo.items():
                    _answer_shared(model, tokenizer, pending, which, store, batch_size, max_new, after, summary)
                    bar.update(1)
            else:
                pending = [p for case_jobs in todo.values() for p in case_jobs]
                left = {c: len(v) for c, v in todo.items()}
                for start in range(0, len(pending), batch_size):
                    chunk = pending[start:start + batch_size]
                    _answer_full(model, tokenizer, chunk, which, store, max_new, after, summary)
                    for j, _ in chunk:
                        left[j.case_id] -= 1
                        if left[j.case_id] == 0:
                            bar.update(1)
        bar.close()
    summary.seconds = time.perf_counter() - t_start
    return summary


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids if text else []


def _writer(tokenizer, chunk, which: str, store, summary: RunSummary, written: set) -> OnDone:
    def done(row: int, ids: list[int], seconds: float) -> None:
        job, h = chunk[row]
        written.add(row)
        store.append({"case_id": job.case_id, "item": job.item, "model": which, "prompt_hash": h,
                      "text": tokenizer.decode(ids, skip_special_tokens=True), "n_tokens": len(ids),
                      "seconds": round(seconds, 3), "batch": len(chunk)})
        summary.generated += 1
    return done


def _failed(chunk, which: str, err: Exception, summary: RunSummary, written: set = frozenset()) -> None:
    lost = [j for i, (j, _) in enumerate(chunk) if i not in written]
    summary.failed += len(lost)
    items = ", ".join(f"{j.case_id}/{j.item}" for j in lost[:4]) + (" ..." if len(lost) > 4 else "")
    summary.errors.append(f"{which}: {len(lost)} answer(s) failed ({items}): {type(err).__name__}: {err}")


def _answer_shared(model, tokenizer, pending, which, store, batch_size, max_new, after, summary) -> None:
    head = _ids(tokenizer, pending[0][0].head)
    try:
        cache = prefix_cache(model, head)
    except Exception as e:  # noqa: BLE001 - one bad case must not end the run
        _failed(pending, which, e, summary)
        return
    for start in range(0, len(pending), batch_size):
        chunk = pending[start:start + batch_size]
        written: set = set()
        try:
            generate_shared(model, tokenizer, head, [_ids(tokenizer, j.tail) for j, _ in chunk], max_new,
                            stop_after=after, on_done=_writer(tokenizer, chunk, which, store, summary, written),
                            cache=cache)
        except Exception as e:  # noqa: BLE001
            _failed(chunk, which, e, summary, written)


def _answer_full(model, tokenizer, chunk, which, store, max_new, after, summary) -> None:
    written: set = set()
    try:
        generate_full(model, tokenizer, [_ids(tokenizer, j.head) + _ids(tokenizer, j.tail) for j, _ in chunk],
                      max_new, stop_after=after, on_done=_writer(tokenizer, chunk, which, store, summary, written))
    except Exception as e:  # noqa: BLE001
        _failed(chunk, which, e, summary, written)


def collect(store: "runstore.RunStore", jobs: Sequence[Job], params: dict, variants: Sequence[str],
            adapter_id: str | None = None) -> tuple[dict, dict]:
    """({model: {case_id: {item: text}}} of complete cases, {model: [incomplete case ids]})."""
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
                per_case.setdefault(j.case_id, {})[j.item] = row["text"]
        answers[which] = {c: v for c, v in per_case.items() if c not in bad}
        incomplete[which] = sorted(bad)
    return answers, incomplete


def infer(params: dict, cases: Sequence, out_dir, adapter: str | None = None, definitions=None,
          model=None, tokenizer=None, progress: bool = True, log=print) -> tuple[dict, RunSummary]:
    """The whole of stage 04's generation: prompts -> raw.jsonl (resumable) -> {model: {case: {item: text}}}.

    Base and adapter answers come from one loaded model (the adapter is switched off for 'base').
    """
    from pathlib import Path

    from . import models, prompts

    if not cases:
        raise ValueError("no cases to answer: the split is empty (check split / max_cases and the cohort's splits)")
    adapter = adapter if adapter is not None else params.get("adapter")
    if model is None:
        model, tokenizer = models.load_model(params, adapter=adapter)
    defs = prompts.load_definitions(definitions if definitions is not None else params.get("definitions"),
                                    language=params.get("language", "en"))
    variants = ("base", "adapter") if adapter else ("base",)
    adapter_id = adapter_identity(adapter) if adapter else None
    jobs = build_jobs(cases, tokenizer, defs, params)
    store = runstore.RunStore(Path(out_dir) / "raw.jsonl", log=log)
    summary = run(model, tokenizer, jobs, params, store, variants, adapter_id, progress)
    log(str(summary))
    answers, incomplete = collect(store, jobs, params, variants, adapter_id)
    for which, ids in incomplete.items():
        if ids:
            log(f"{which}: {len(ids)} case(s) lack answers and are left out of the predictions: {ids[:10]} "
                "(re-run to retry them)")
    return answers, summary
