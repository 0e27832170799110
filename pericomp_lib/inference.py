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

from . import cascade, constrained, runstore, taxonomy

OnDone = Callable[[int, list[int], float, "float | None"], None]  # (row, answer ids, seconds, P(True) or None)


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
           eos: set[int], on_done: OnDone | None = None, rows: "constrained.Rows | None" = None,
           probe: "constrained.DecisionProbe | None" = None, forced: Sequence[Sequence[int]] | None = None
           ) -> list[list[int]]:
    """Greedy decoding of a batch whose cache already holds everything before `input_ids`.

    attention_mask covers cache + input_ids; position_ids cover input_ids. Finished rows are dropped
    from the batch (and the cache) so the remaining rows run faster. With `rows` (schema matchers) the
    logits are masked by the schema and a row's forced tokens (jump-forward) are fed with its chosen
    token in the same forward pass: rows then feed different numbers of tokens, left-padded and masked
    like the prompt tails. `forced` are the tokens already fed at the end of each row's prompt (the
    schema's opening span); they are part of the answer. `probe` records P(True) at each decision.
    """
    t0 = time.perf_counter()
    n = input_ids.shape[0]
    out: list[list[int]] = [list(f) for f in forced] if forced else [[] for _ in range(n)]
    if probe is not None:
        for row in range(n):
            probe.feed(row, out[row])
    active = list(range(n))
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                   past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1, :]
    next_pos = position_ids[:, -1:] + 1
    while True:
        if rows is not None:
            rows.apply(logits, active)
        if probe is not None:
            for i, row in enumerate(active):
                if probe.at_decision(row):
                    probe.record(row, logits[i], masked=rows is not None)
        tok_list = logits.argmax(dim=-1).tolist()
        feeds: list[list[int]] = []
        for row, tid in zip(active, tok_list):
            feed = [tid]
            if tid not in eos:
                if rows is not None:
                    feed += rows.advance(row, tid)
                out[row].extend(feed)
                if probe is not None:
                    probe.feed(row, feed)
            feeds.append(feed)
        if stop is not None and rows is None:
            stopped = stop(torch.tensor(tok_list)[:, None], None, rows=active).tolist()
        else:
            stopped = [False] * len(active)
        keep: list[int] = []
        for i, row in enumerate(active):
            done = feeds[i][0] in eos or stopped[i] or len(out[row]) >= max_new_tokens or (
                rows is not None and rows.finished(row))
            if done:
                if on_done is not None:
                    on_done(row, out[row], time.perf_counter() - t0, probe.p_true[row] if probe is not None else None)
            else:
                keep.append(i)
        if not keep:
            return out
        if len(keep) < len(active):
            idx = torch.tensor(keep, device=attention_mask.device)
            cache.batch_select_indices(idx)
            attention_mask, next_pos = attention_mask[idx], next_pos[idx]
            active = [active[i] for i in keep]
        ids, step_mask = _right_aligned([feeds[i] for i in keep], 0, attention_mask.device)
        attention_mask = torch.cat([attention_mask, step_mask], dim=1)
        positions = _positions(step_mask, 0) + next_pos
        logits = model(input_ids=ids, attention_mask=attention_mask, position_ids=positions,
                       past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1, :]
        next_pos = next_pos + step_mask.sum(dim=1, keepdim=True)


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


def _start(tokenizer, n: int, grammar: "constrained.Grammar | None", answers: bool = True):
    """Per-batch decoding state: schema matchers with the opening span they force, and the P(True) probe
    (only for JSON answers: raw token streams, e.g. in benchmarks, have no decision to find)."""
    rows = grammar.rows(n) if grammar is not None else None
    forced = [rows.forced(i) for i in range(n)] if rows is not None else [[] for _ in range(n)]
    probe = constrained.DecisionProbe(tokenizer, n) if answers or rows is not None else None
    return rows, forced, probe


def generate_full(model, tokenizer, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                  stop_after: str | None = None, json_stop: bool = True, on_done: OnDone | None = None,
                  grammar: "constrained.Grammar | None" = None):
    """Answers for whole prompts batched together (left padding, positions from the mask)."""
    _check(prompts)
    device = _device(model)
    rows, forced, probe = _start(tokenizer, len(prompts), grammar, json_stop)
    ids, mask = _right_aligned([list(p) + f for p, f in zip(prompts, forced)], tokenizer.pad_token_id, device)
    stop = JsonAnswerStop(tokenizer, len(prompts), stop_after) if json_stop else None
    return greedy(model, ids, mask, _positions(mask, 0), DynamicCache(), max_new_tokens, stop,
                  eos_ids(model, tokenizer), on_done, rows, probe, forced)


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
                    cache: DynamicCache | None = None, grammar: "constrained.Grammar | None" = None,
                    cascade_attention: bool = True):
    """Answers for head + tail_i, the head's KV computed once (or passed in) and shared by the rows:
    read once per step by cascade attention (`cascade.py`), or copied into every row (`cascade_attention=False`).

    Tails are right-aligned: left padding inside the suffix is masked out and real tokens keep the
    positions they have in the full prompt, so each answer equals the one the full prompt gets alone.
    """
    _check(tails)
    if not head:
        return generate_full(model, tokenizer, tails, max_new_tokens, stop_after, json_stop, on_done, grammar)
    device = _device(model)
    base = cache if cache is not None else prefix_cache(model, head)
    rows, forced, probe = _start(tokenizer, len(tails), grammar, json_stop)
    ids, tail_mask = _right_aligned([list(t) + f for t, f in zip(tails, forced)], tokenizer.pad_token_id, device)
    mask = torch.cat([tail_mask.new_ones((len(tails), len(head))), tail_mask], dim=1)
    stop = JsonAnswerStop(tokenizer, len(tails), stop_after) if json_stop else None
    if not cascade_attention:  # every row gets its own copy of the head's cache
        batch_cache = copy.deepcopy(base)
        batch_cache.batch_repeat_interleave(len(tails))
        return greedy(model, ids, mask, _positions(tail_mask, len(head)), batch_cache, max_new_tokens, stop,
                      eos_ids(model, tokenizer), on_done, rows, probe, forced)
    with cascade.attention(model):  # one head for all rows, never copied
        return greedy(model, ids, mask, _positions(tail_mask, len(head)), cascade.SharedPrefixCache(base),
                      max_new_tokens, stop, eos_ids(model, tokenizer), on_done, rows, probe, forced)


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
    incomplete: dict = field(default_factory=dict)  # {model: [case ids lacking an answer]}
    p_true: dict = field(default_factory=dict)  # {model: {case_id: {item: P(True) or None}}}
    calibration: dict = field(default_factory=dict)  # the same for the calibration (training) cases

    def merge(self, other: "RunSummary") -> None:
        self.generated += other.generated
        self.skipped += other.skipped
        self.failed += other.failed
        self.seconds += other.seconds
        self.errors += other.errors

    def __str__(self) -> str:
        s = (f"{self.generated} answers generated, {self.skipped} already in raw.jsonl, {self.failed} failed "
             f"in {self.seconds:.1f} s")
        return s + "".join(f"\n  {e}" for e in self.errors[:10])


def build_jobs(cases: Sequence, tokenizer, definitions, params: dict) -> list[Job]:
    """Every answer a run needs, in case order, from the prompts module (the one place prompts are built).

    shared_prefix: a targeted case's questions share the head (chat start + record); comprehensive
    prompts of all cases share the head (instructions + definitions), the record being their tail."""
    from . import chat, prompts

    think = bool(params.get("enable_thinking", False))
    style = {"answer_layout": params.get("answer_layout", "paper"), "question_style": params.get("question_style", "criteria")}
    shared = params["prompt_layout"] == "shared_prefix"
    jobs: list[Job] = []
    for case in cases:
        if params["strategy"] == "comprehensive":
            cthink = params.get("comprehensive_think", True)
            asked = params.get("complications") if params.get("comprehensive_scope") == "asked" else None
            if shared:
                head, tail = chat.chat_prefix_suffix(
                    tokenizer, prompts.comprehensive_prompt("", definitions, cthink, asked), case.record, think)
                jobs.append(Job(case.case_id, "comprehensive", head, tail))
            else:
                text = prompts.comprehensive_prompt(case.record, definitions, cthink, asked)
                jobs.append(Job(case.case_id, "comprehensive", "", chat.chat_text(tokenizer, text, think)))
        elif shared:
            prefix = prompts.targeted_prefix(case.record, definitions)
            for heading in prompts.targeted_prompts(case.record, definitions, "shared_prefix", params.get("complications"), **style):
                cid = taxonomy.canonical_id(heading)
                question = prompts.targeted_question(definitions, cid, **style)
                head, tail = chat.chat_prefix_suffix(tokenizer, prefix, question, think)
                jobs.append(Job(case.case_id, cid, head, tail))
        else:
            for heading, text in prompts.targeted_prompts(case.record, definitions, "paper",
                                                          params.get("complications"), **style).items():
                jobs.append(Job(case.case_id, taxonomy.canonical_id(heading), "", chat.chat_text(tokenizer, text, think)))
    return jobs


def settings_key(params: dict, which: str, adapter_id: str | None) -> dict:
    """What besides the prompt decides an answer; part of every prompt_hash so stale answers are redone."""
    key = {"model": params["model_name_or_path"], "quantization": params.get("quantization"),
           "dtype": params.get("dtype"), "adapter": adapter_id if which == "adapter" else None,
           "max_new_tokens": int(params["max_new_tokens"]), "enable_thinking": bool(params.get("enable_thinking"))}
    if params.get("constrained"):  # absent for free generation, so the answers of earlier runs keep their hash
        key.update(constrained=True, think_max_chars=params.get("think_max_chars"))
    return key


def grammar_for(tokenizer, params: dict, definitions) -> "constrained.Grammar | None":
    """The answer schema of a run (None: the paper's free generation)."""
    if not params.get("constrained"):
        return None
    return constrained.Grammar(tokenizer, constrained.schema_for(params, definitions.language))


def context_limit(model) -> int | None:
    """The longest sequence the model was trained for (prompt + answer must fit)."""
    return getattr(getattr(model, "config", None), "max_position_embeddings", None)


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
        variants: Sequence[str] = ("base",), adapter_id: str | None = None, progress: bool = True,
        grammar: "constrained.Grammar | None" = None) -> RunSummary:
    """Answer every job for every model variant, skipping what raw.jsonl already holds.

    Jobs that share a head are answered from one KV cache of it. A failing batch (out of memory, a bad
    prompt) and a prompt longer than the model's context are counted and reported; the run goes on.
    """
    from tqdm.auto import tqdm

    summary = RunSummary()
    t_start = time.perf_counter()
    batch_size = int(params.get("inference_batch_size", 8))
    max_new = int(params["max_new_tokens"])
    after = "</think>" if params.get("enable_thinking") else None
    limit = context_limit(model)
    n_cases = len({j.case_id for j in jobs})
    for which in variants:
        settings = settings_key(params, which, adapter_id)
        groups: dict[str, list[tuple[Job, str]]] = {}
        done_cases: set[str] = set()
        for j in jobs:
            h = job_hash(j, settings)
            if store.get(j.case_id, j.item, which, h) is None:
                groups.setdefault(j.head, []).append((j, h))
            else:
                summary.skipped += 1
        todo_cases = {j.case_id for g in groups.values() for j, _ in g}
        bar = tqdm(total=n_cases, initial=n_cases - len(todo_cases), unit="case", desc=f"{which:7s}",
                   disable=not progress, dynamic_ncols=True)
        left = {c: sum(1 for g in groups.values() for j, _ in g if j.case_id == c) for c in todo_cases}

        def tick(chunk) -> None:
            for j, _ in chunk:
                left[j.case_id] -= 1
                if left[j.case_id] == 0 and j.case_id not in done_cases:
                    done_cases.add(j.case_id)
                    bar.update(1)

        with variant(model, which):
            for head_text, pending in groups.items():
                head = _ids(tokenizer, head_text)
                fits, too_long = _check_lengths(tokenizer, head, pending, max_new, limit)
                if too_long:
                    _failed(too_long, which, ValueError(
                        f"prompt longer than the model's context: {_ids_len(tokenizer, head, too_long[0][0])} "
                        f"tokens + {max_new} new > {limit}; shorten the record or use a model with a longer context"),
                        summary)
                    tick(too_long)
                if not fits:
                    continue
                if head:
                    _answer_shared(model, tokenizer, head, fits, which, store, batch_size, max_new, after, summary,
                                   grammar, tick)
                else:
                    for start in range(0, len(fits), batch_size):
                        chunk = fits[start:start + batch_size]
                        _answer_full(model, tokenizer, chunk, which, store, max_new, after, summary, grammar)
                        tick(chunk)
        bar.close()
    summary.seconds = time.perf_counter() - t_start
    return summary


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids if text else []


def _ids_len(tokenizer, head: list[int], job: Job) -> int:
    return len(head) + len(_ids(tokenizer, job.tail))


def _check_lengths(tokenizer, head: list[int], pending, max_new: int, limit: int | None):
    """(jobs that fit, jobs whose prompt + max_new_tokens passes the model's context)."""
    if not limit:
        return pending, []
    fits, too_long = [], []
    for job, h in pending:
        (fits if _ids_len(tokenizer, head, job) + max_new <= limit else too_long).append((job, h))
    return fits, too_long


def _writer(tokenizer, chunk, which: str, store, summary: RunSummary, written: set) -> OnDone:
    def done(row: int, ids: list[int], seconds: float, p_true: float | None = None) -> None:
        job, h = chunk[row]
        written.add(row)
        store.append({"case_id": job.case_id, "item": job.item, "model": which, "prompt_hash": h,
                      "text": tokenizer.decode(ids, skip_special_tokens=True), "n_tokens": len(ids),
                      "seconds": round(seconds, 3), "batch": len(chunk), "p_true": p_true})
        summary.generated += 1
    return done


def _failed(chunk, which: str, err: Exception, summary: RunSummary, written: set = frozenset()) -> None:
    lost = [j for i, (j, _) in enumerate(chunk) if i not in written]
    summary.failed += len(lost)
    items = ", ".join(f"{j.case_id}/{j.item}" for j in lost[:4]) + (" ..." if len(lost) > 4 else "")
    summary.errors.append(f"{which}: {len(lost)} answer(s) failed ({items}): {type(err).__name__}: {err}")


def _answer_shared(model, tokenizer, head, pending, which, store, batch_size, max_new, after, summary,
                   grammar=None, tick=None) -> None:
    try:
        cache = prefix_cache(model, head)
    except Exception as e:  # noqa: BLE001 - one bad case must not end the run
        _failed(pending, which, e, summary)
        if tick:
            tick(pending)
        return
    for start in range(0, len(pending), batch_size):
        chunk = pending[start:start + batch_size]
        written: set = set()
        try:
            generate_shared(model, tokenizer, head, [_ids(tokenizer, j.tail) for j, _ in chunk], max_new,
                            stop_after=after, on_done=_writer(tokenizer, chunk, which, store, summary, written),
                            cache=cache, grammar=grammar)
        except Exception as e:  # noqa: BLE001
            _failed(chunk, which, e, summary, written)
        if tick:
            tick(chunk)


def _answer_full(model, tokenizer, chunk, which, store, max_new, after, summary, grammar=None) -> None:
    written: set = set()
    try:
        generate_full(model, tokenizer, [_ids(tokenizer, j.head) + _ids(tokenizer, j.tail) for j, _ in chunk],
                      max_new, stop_after=after, on_done=_writer(tokenizer, chunk, which, store, summary, written),
                      grammar=grammar)
    except Exception as e:  # noqa: BLE001
        _failed(chunk, which, e, summary, written)


def collect(store: "runstore.RunStore", jobs: Sequence[Job], params: dict, variants: Sequence[str],
            adapter_id: str | None = None, key: str = "text") -> tuple[dict, dict]:
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


def infer(params: dict, cases: Sequence, out_dir, adapter: str | None = None, definitions=None,
          model=None, tokenizer=None, progress: bool = True, log=print,
          calibration: Sequence = ()) -> tuple[dict, RunSummary]:
    """The whole of stage 04's generation: prompts -> raw.jsonl (resumable) -> {model: {case: {item: text}}}.

    Base and adapter answers come from one loaded model (the adapter is switched off for 'base'). With
    `comprehensive_arm` a targeted run also asks the base model the comprehensive prompt (Figure 6b's
    third arm, model "comprehensive"). `calibration` cases (training split) get targeted decisions only,
    for an operating point chosen away from the evaluation cases. summary.p_true and
    summary.calibration hold {model: {case_id: {complication: P(True)}}}.
    """
    from pathlib import Path

    from . import models
    from .definitions import load_definitions

    if not cases:
        raise ValueError("no cases to answer: the split is empty (check split / max_cases and the cohort's splits)")
    adapter = adapter if adapter is not None else params.get("adapter")
    if model is None:
        model, tokenizer = models.load_model(params, adapter=adapter)
    defs = load_definitions(definitions if definitions is not None else params.get("definitions"),
                                    language=params.get("language", "en"))
    variants = ("base", "adapter") if adapter else ("base",)
    adapter_id = adapter_identity(adapter) if adapter else None
    store = runstore.RunStore(Path(out_dir) / "raw.jsonl", log=log)
    arms = [(params, variants, None)]
    if params.get("comprehensive_arm") and params["strategy"] == "targeted":
        comp = {**params, "strategy": "comprehensive"}
        if params.get("constrained"):  # room for the longest list the schema allows: every answer closes
            comp["max_new_tokens"] = max(int(params["max_new_tokens"]),
                                         constrained.comprehensive_budget(tokenizer, comp, defs.language))
        arms.append((comp, ("base",), "comprehensive"))
    total = RunSummary()
    answers: dict = {}
    p_true: dict = {}
    for arm_params, arm_variants, name in arms:
        jobs = build_jobs(cases, tokenizer, defs, arm_params)
        grammar = grammar_for(tokenizer, arm_params, defs)
        summary = run(model, tokenizer, jobs, arm_params, store, arm_variants, adapter_id, progress, grammar)
        log(f"{name or arm_params['strategy']}: {summary}")
        total.merge(summary)
        got, incomplete = collect(store, jobs, arm_params, arm_variants, adapter_id)
        probs, _ = collect(store, jobs, arm_params, arm_variants, adapter_id, key="p_true")
        for which, ids in incomplete.items():
            if ids:
                log(f"{name or which}: {len(ids)} case(s) lack answers and are left out of the predictions: "
                    f"{ids[:10]} (re-run to retry them)")
        for which in arm_variants:
            answers[name or which], p_true[name or which] = got[which], probs[which]
            total.incomplete[name or which] = incomplete[which]
    if calibration and params["strategy"] == "targeted":
        cal_params = decision_only(params)
        jobs = build_jobs(calibration, tokenizer, defs, cal_params)
        summary = run(model, tokenizer, jobs, cal_params, store, variants, adapter_id, progress,
                      grammar_for(tokenizer, cal_params, defs))
        log(f"calibration ({len(calibration)} training cases): {summary}")
        total.merge(summary)
        total.calibration, _ = collect(store, jobs, cal_params, variants, adapter_id, key="p_true")
    total.p_true = p_true
    return answers, total
