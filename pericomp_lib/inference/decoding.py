"""The decoding engine: greedy batched generation with a shared-prefix KV cache and an early stop at the closed
JSON answer.

Why our own decoding loop instead of `model.generate`: the targeted strategy asks 22 questions about the
same record, so the record's KV cache is computed once and copied into every row of a batch; rows that
have closed their JSON answer leave the batch at once (the cache shrinks with them), and every answer is
handed to the caller the moment it exists, so a run killed mid-batch loses as little as possible.
`JsonAnswerStop` is a regular `transformers.StoppingCriteria`, so `model.generate` can use it too.

Token ids of a prompt are always ids(head) + ids(tail), each part tokenized alone, in every mode; that
makes "one full prompt at a time", "batched" and "batched with a shared prefix" feed the model exactly
the same tokens, so their greedy answers can be compared one to one.
What to answer is jobs.py's; resumption and raw.jsonl are runner.py's (the run orchestration).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

import torch
from transformers import DynamicCache, StoppingCriteria

from . import cascade, constrained

OnDone = Callable[[int, list[int], float, "float | None"], None]  # (row, answer ids, seconds, P(True) or None)
# (row, the quote it began + "|" + the token it wanted, "POD 3. Today:| no"): called before on_done for a row that
# quote_backoff answers again with the quote "none" (constrained.GroundedGrammars)
OnBackoff = Callable[[int, str], None]


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
                self.buf = self.buf[-len(self.after) :]
                return False
            self.waiting = False
            piece, self.buf = self.buf[at + len(self.after) :], ""
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
def greedy(
    model,
    input_ids,
    attention_mask,
    position_ids,
    cache,
    max_new_tokens: int,
    stop: JsonAnswerStop | None,
    eos: set[int],
    on_done: OnDone | None = None,
    rows: constrained.Rows | None = None,
    probe: constrained.DecisionProbe | None = None,
    forced: Sequence[Sequence[int]] | None = None,
    adapter_names: Sequence[str] | None = None,
    backoff: constrained.Grammar | None = None,
    on_backoff: OnBackoff | None = None,
) -> list[list[int]]:
    """Greedy decoding of a batch whose cache already holds everything before `input_ids`.

    attention_mask covers cache + input_ids; position_ids cover input_ids. Finished rows are dropped
    from the batch (and the cache) so the remaining rows run faster. With `rows` (schema matchers) the
    logits are masked by the schema and a row's forced tokens (jump-forward) are fed with its chosen
    token in the same forward pass: rows then feed different numbers of tokens, left-padded and masked
    like the prompt tails. `forced` are the tokens already fed at the end of each row's prompt (the
    schema's opening span); they are part of the answer. `probe` records P(True) at each decision.
    `adapter_names`: peft's adapter per row ("__base__": none), for base and adapter answers in one batch.
    `backoff` (the grammar's, with `rows` and `probe`: quote_backoff): a row whose greedy token inside its quote
    is one the schema forbids starts its answer again in the batch under `backoff` (the quote "none"): the
    columns of its first answer are masked out and its new tokens take their positions, so it gets the answer
    its prompt gets alone with that grammar; on_backoff(row, quote so far + "|" + wanted token) is called first.
    """
    t0 = time.perf_counter()
    n = input_ids.shape[0]
    out: list[list[int]] = [list(f) for f in forced] if forced else [[] for _ in range(n)]
    if probe is not None:
        for row in range(n):
            probe.feed(row, out[row])
    active = list(range(n))
    names = list(adapter_names) if adapter_names is not None else None
    # where each row's answer begins (the column in attention_mask, its position): a backoff starts it again there
    start_col = [attention_mask.shape[1] - len(o) for o in out]
    start_pos = [int(position_ids[r, -1]) + 1 - len(o) for r, o in enumerate(out)]
    logits = _last_logits(model, input_ids, attention_mask, position_ids, cache, names)
    next_pos = position_ids[:, -1:] + 1
    while True:
        tok_list, feeds, left = _choose(logits, active, out, eos, rows, probe, backoff is not None)
        if stop is not None and rows is None:
            stopped = stop(torch.tensor(tok_list)[:, None], None, rows=active).tolist()
        else:
            stopped = [False] * len(active)
        keep: list[int] = []
        for i, row in enumerate(active):
            if row in left:  # its quote left the record: the answer again, from its start, under `backoff`
                if on_backoff is not None:
                    on_backoff(row, left[row])
                attention_mask[i, start_col[row] :] = 0
                next_pos[i] = start_pos[row]
                out[row] = feeds[i] = rows.restart(row, backoff)
                probe.restart(row, out[row])
                keep.append(i)
                continue
            done = (
                feeds[i][0] in eos
                or stopped[i]
                or len(out[row]) >= max_new_tokens
                or (rows is not None and rows.finished(row))
            )
            if not done:
                keep.append(i)
            elif on_done is not None:
                on_done(row, out[row], time.perf_counter() - t0, probe.p_true[row] if probe is not None else None)
        if not keep:
            return out
        if len(keep) < len(active):  # finished rows leave the batch and the cache
            idx = torch.tensor(keep, device=attention_mask.device)
            cache.batch_select_indices(idx)
            attention_mask, next_pos = attention_mask[idx], next_pos[idx]
            active = [active[i] for i in keep]
        ids, step_mask = _right_aligned([feeds[i] for i in keep], 0, attention_mask.device)
        attention_mask = torch.cat([attention_mask, step_mask], dim=1)
        rows_names = [names[r] for r in active] if names is not None else None
        logits = _last_logits(model, ids, attention_mask, _positions(step_mask, 0) + next_pos, cache, rows_names)
        next_pos = next_pos + step_mask.sum(dim=1, keepdim=True)


def _last_logits(model, ids, attention_mask, positions, cache, adapter_names=None) -> torch.Tensor:
    """One forward pass over `ids` (appended to `cache`): the logits of each row's last position."""
    extra = {"adapter_names": adapter_names} if adapter_names is not None else {}
    return model(
        input_ids=ids,
        attention_mask=attention_mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
        **extra,
    ).logits[:, -1, :]


def _choose(
    logits,
    active: list[int],
    out: list[list[int]],
    eos: set[int],
    rows: constrained.Rows | None,
    probe: constrained.DecisionProbe | None,
    refuse: bool = False,
) -> tuple[list[int], list[list[int]], dict[int, str]]:
    """The greedy token of each active row (schema-masked with `rows`, P(True) recorded at a decision), the
    tokens each row feeds next (its token plus the schema's forced span; answer tokens are added to `out`), and
    with `refuse` {row: quote + "|" + wanted token} of the rows whose unmasked choice inside a quote the schema
    forbids (they are not advanced)."""
    wanted = logits.argmax(dim=-1).tolist() if refuse and rows is not None and probe is not None else None
    if rows is not None:
        rows.apply(logits, active)
    if probe is not None:
        for i, row in enumerate(active):
            if probe.at_decision(row):
                probe.record(row, logits[i], masked=rows is not None)
    tok_list = logits.argmax(dim=-1).tolist()
    feeds: list[list[int]] = []
    left: dict[int, str] = {}
    for i, (row, tid) in enumerate(zip(active, tok_list)):
        feed = [tid]
        quote = probe.open_quote(row) if wanted is not None and wanted[i] != tid else None
        if quote is not None:
            left[row] = f"{quote}|{probe.piece(wanted[i])}"
            feeds.append(feed)
            continue
        if tid not in eos:
            if rows is not None:
                feed += rows.advance(row, tid)
            out[row].extend(feed)
            if probe is not None:
                probe.feed(row, feed)
        feeds.append(feed)
    return tok_list, feeds, left


def _right_aligned(seqs: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad to a common length (so every row's next token lands in the same column) with a 0 mask."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s) :] = torch.tensor(list(s), dtype=torch.long)
            mask[i, width - len(s) :] = 1
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


def _start(tokenizer, n: int, grammar: constrained.Grammar | None, answers: bool = True):
    """Per-batch decoding state: schema matchers with the opening span they force, and the P(True) probe
    (only for JSON answers: raw token streams, e.g. in benchmarks, have no decision to find)."""
    rows = grammar.rows(n) if grammar is not None else None
    forced = [rows.forced(i) for i in range(n)] if rows is not None else [[] for _ in range(n)]
    probe = constrained.DecisionProbe(tokenizer, n) if answers or rows is not None else None
    return rows, forced, probe


def generate_full(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    stop_after: str | None = None,
    json_stop: bool = True,
    on_done: OnDone | None = None,
    grammar: constrained.Grammar | None = None,
    on_backoff: OnBackoff | None = None,
):
    """Answers for whole prompts batched together (left padding, positions from the mask). With a grammar that
    has a backoff (quote_backoff), a row whose quote left the record starts again with it (greedy)."""
    _check(prompts)
    device = _device(model)
    rows, forced, probe = _start(tokenizer, len(prompts), grammar, json_stop)
    ids, mask = _right_aligned([list(p) + f for p, f in zip(prompts, forced)], tokenizer.pad_token_id, device)
    stop = JsonAnswerStop(tokenizer, len(prompts), stop_after) if json_stop else None
    return greedy(
        model,
        ids,
        mask,
        _positions(mask, 0),
        DynamicCache(),
        max_new_tokens,
        stop,
        eos_ids(model, tokenizer),
        on_done,
        rows,
        probe,
        forced,
        backoff=_backoff(grammar, probe),
        on_backoff=on_backoff,
    )


def _backoff(grammar: constrained.Grammar | None, probe) -> constrained.Grammar | None:
    """The grammar a row whose quote leaves the record starts again with (quote_backoff), else None."""
    return grammar.backoff if grammar is not None and probe is not None else None


@torch.no_grad()
def prefix_cache(model, head: Sequence[int]) -> DynamicCache:
    """KV cache of the shared head (chat start + record), computed once per (case, model variant)."""
    device = _device(model)
    ids = torch.tensor([list(head)], dtype=torch.long, device=device)
    cache = DynamicCache()
    model(input_ids=ids, attention_mask=torch.ones_like(ids), past_key_values=cache, use_cache=True, logits_to_keep=1)
    return cache


def use_cascade(head_len: int, tail_lens: Sequence[int], min_rows: int = 8, min_ratio: int = 4) -> bool:
    """Cascade attention when at least `min_rows` rows share a head `min_ratio` times their longest tail."""
    return len(tail_lens) >= min_rows and head_len >= min_ratio * max(tail_lens, default=0)


def generate_shared(
    model,
    tokenizer,
    head: Sequence[int],
    tails: Sequence[Sequence[int]],
    max_new_tokens: int,
    stop_after: str | None = None,
    json_stop: bool = True,
    on_done: OnDone | None = None,
    cache: DynamicCache | None = None,
    grammar: constrained.Grammar | None = None,
    cascade_attention: bool | None = None,
    adapter_names: Sequence[str] | None = None,
    on_backoff: OnBackoff | None = None,
):
    """Answers for head + tail_i, the head's KV computed once (or passed in) and shared by the rows:
    read once per step by cascade attention (`cascade.py`), or copied into every row (`cascade_attention=False`).
    None chooses (`use_cascade`): cascade pays when many rows share a long head; its tail pass is plain
    matrix attention, slower than sdpa over long tails (measured: comprehensive prompts, 4 records of ~600
    tokens behind a ~300-token head, 100 s with cascade vs 53 s copied; 4 targeted questions behind a 923-token
    record, 32 s vs 30 s; 22 questions behind a 2.8k-token record: see benchmarks/README.md).

    Tails are right-aligned: left padding inside the suffix is masked out and real tokens keep the
    positions they have in the full prompt, so each answer equals the one the full prompt gets alone.
    """
    _check(tails)
    if not head:
        return generate_full(
            model, tokenizer, tails, max_new_tokens, stop_after, json_stop, on_done, grammar, on_backoff
        )
    device = _device(model)
    base = cache if cache is not None else prefix_cache(model, head)
    rows, forced, probe = _start(tokenizer, len(tails), grammar, json_stop)
    ids, tail_mask = _right_aligned([list(t) + f for t, f in zip(tails, forced)], tokenizer.pad_token_id, device)
    mask = torch.cat([tail_mask.new_ones((len(tails), len(head))), tail_mask], dim=1)
    stop = JsonAnswerStop(tokenizer, len(tails), stop_after) if json_stop else None
    if cascade_attention is None:
        cascade_attention = use_cascade(len(head), [len(t) for t in tails])
    if cascade_attention:  # one head for all rows, never copied
        batch_cache, scope = cascade.SharedPrefixCache(base), cascade.attention(model)
    else:  # every row gets its own copy of the head's cache
        batch_cache, scope = copy.deepcopy(base), nullcontext()
        batch_cache.batch_repeat_interleave(len(tails))
    with scope:
        return greedy(
            model,
            ids,
            mask,
            _positions(tail_mask, len(head)),
            batch_cache,
            max_new_tokens,
            stop,
            eos_ids(model, tokenizer),
            on_done,
            rows,
            probe,
            forced,
            adapter_names,
            _backoff(grammar, probe),
            on_backoff,
        )


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
