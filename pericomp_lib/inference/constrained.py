"""Schema-constrained decoding of the answers (llguidance), and the probability of every decision.

Why: a small model often writes an answer that does not parse (the CPU default's base model parsed 0 of
40), and an answer that does not parse says nothing about what the model knows. With `constrained: true`
each answer follows its JSON schema token by token: a bitmask from llguidance removes every token the
schema does not allow before the greedy choice, and the fixed spans of the schema (keys, quotes,
separators) are forced without a decode step each (llguidance's fast-forward tokens = jump-forward).
`constrained: false` is the paper's free generation.

Why llguidance (not xgrammar or outlines): it is a Rust library without a torch dependency, it takes a
Hugging Face tokenizer as it is, computes the mask of one row in microseconds on a CPU, and returns the
forced continuation (`compute_ff_tokens`) that our own shared-prefix loop can feed in one step; vLLM,
SGLang and llama.cpp use it as a backend. xgrammar needs a matching torch build and its jump-forward
string must be re-tokenized by the caller.

P(True): at the token where a targeted answer's "bool" value starts, the softmax of the model's logits
over the tokens that may start it (those the schema allows; without a schema, the tokens that are a
prefix of "True" or "False"), summed over those that start "True". Recorded with every answer, in
constrained and free generation alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import torch

from ..core import taxonomy

# json.dumps separators: the forced spans are then the very tokens the fine-tuned models were trained on
JSON_DEFAULTS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
GRADES = {"zh": ("Null", "轻", "中", "重"), "en": ("Null", "mild", "moderate", "severe")}
# The published gold has at most 7 complications in one case (center 1; 5 in center 2): a cap of 8 lets every
# real answer through and makes a looping small model close its list within max_new_tokens.
MAX_ITEMS = 8
DECISION = re.compile(r'"bool"\s*:\s*"$')  # the text right before a targeted decision
QUOTE = re.compile(r'"think"\s*:\s*"((?:[^"\\]|\\.)*)$')  # a targeted think string still open, and its text


class ConstraintError(ValueError):
    """A schema, tokenizer or setting that constrained decoding cannot use."""


def targeted_schema(
    language: str = "en",
    answer_layout: str = "paper",
    think_max_chars: int | None = None,
    think_pattern: str | None = None,
) -> dict:
    """{"think", "bool", "grading"} in the order of `answer_layout` (see prompts.ANSWER_KEYS); `think_pattern`
    (an anchored regex, quotes.quote_pattern) replaces the length limit of the think."""
    from ..prompting.prompts import ANSWER_KEYS

    if answer_layout not in ANSWER_KEYS:
        raise ConstraintError(f"unknown answer_layout {answer_layout!r}; use one of {', '.join(ANSWER_KEYS)}")
    think: dict = {"type": "string"}
    if think_pattern:
        think["pattern"] = think_pattern
    elif think_max_chars:
        think["maxLength"] = int(think_max_chars)
    fields = {"think": think, "bool": {"enum": ["True", "False"]}, "grading": {"enum": list(GRADES[language])}}
    keys = ANSWER_KEYS[answer_layout]
    return {
        "type": "object",
        "properties": {k: fields[k] for k in keys},
        "required": list(keys),
        "additionalProperties": False,
    }


def comprehensive_schema(
    language: str = "en",
    think: bool = True,
    complications: Sequence[str] | None = None,
    think_max_chars: int | None = None,
    max_items: int | None = None,
) -> dict:
    """A list of {name, grading} (names: the asked complications or all 22, plus "no complication"),
    wrapped in {"think": [...], "complications": [...]} when `think`."""
    cids = [taxonomy.canonical_id(c) for c in complications] if complications else list(taxonomy.IDS)
    if language == "zh":
        names = [taxonomy.zh_heading(c) for c in cids] + [taxonomy.NONE_ZH]
    else:
        names = [taxonomy.english(c) for c in cids] + [taxonomy.NONE_EN]
    item = {
        "type": "object",
        "properties": {"name": {"enum": names}, "grading": {"enum": list(GRADES[language])}},
        "required": ["name", "grading"],
        "additionalProperties": False,
    }
    items: dict = {
        "type": "array",
        "items": item,
        "minItems": 1,
        "maxItems": int(max_items or min(len(names), MAX_ITEMS)),
    }
    if not think:
        return items
    step: dict = {"type": "string"}
    if think_max_chars:
        step["maxLength"] = int(think_max_chars)
    return {
        "type": "object",
        "properties": {"think": {"type": "array", "items": step, "minItems": 1, "maxItems": 4}, "complications": items},
        "required": ["think", "complications"],
        "additionalProperties": False,
    }


def schema_for(params: dict, language: str) -> dict:
    """The answer schema a run's params ask for."""
    limit = params.get("think_max_chars")
    if params["strategy"] == "comprehensive":
        asked = params.get("complications") if params.get("comprehensive_scope") == "asked" else None
        return comprehensive_schema(language, bool(params.get("comprehensive_think", True)), asked, limit)
    return targeted_schema(language, params.get("answer_layout", "paper"), limit)


_LLTOKENIZERS: dict[int, object] = {}


def comprehensive_budget(tokenizer, params: dict, language: str) -> int:
    """New tokens a constrained comprehensive answer may need: its longest allowed list (a looping model fills
    it to maxItems), so that the schema, not max_new_tokens, ends it and the answer always parses."""
    schema = schema_for({**params, "strategy": "comprehensive"}, language)
    items = schema if schema.get("type") == "array" else schema["properties"]["complications"]
    longest = max(
        len(tokenizer(n, add_special_tokens=False).input_ids) for n in items["items"]["properties"]["name"]["enum"]
    )
    per_item = longest + len(tokenizer('{"name": "", "grading": "moderate"}, ', add_special_tokens=False).input_ids)
    think = 0
    if schema.get("type") == "object":  # think: at most 4 steps of think_max_chars (or 64 tokens) each
        think = 4 * (int(params.get("think_max_chars") or 64) + 4)
    return int(items["maxItems"]) * per_item + think + 8


class Grammar:
    """A compiled answer schema for one tokenizer; `rows(n)` makes the per-row matchers of a batch. `backoff`:
    the grammar a row is answered again with when its quote leaves the record (GroundedGrammars, quote_backoff)."""

    def __init__(self, tokenizer, schema: dict, backoff: Grammar | None = None):
        import llguidance
        import llguidance.hf

        self.tokenizer = tokenizer
        self.schema = schema
        self.backoff = backoff
        key = id(tokenizer)
        if key not in _LLTOKENIZERS:  # building the token trie takes a second; once per tokenizer
            _LLTOKENIZERS[key] = llguidance.hf.from_tokenizer(tokenizer)
        self.lltok = _LLTOKENIZERS[key]
        self.grammar = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema), defaults=JSON_DEFAULTS)
        error = llguidance.LLMatcher.validate_grammar(self.grammar, self.lltok)
        if error:
            raise ConstraintError(f"answer schema rejected by llguidance: {error}")

    def rows(self, n: int) -> Rows:
        return Rows(self, n)

    def matcher(self):
        """A fresh llguidance matcher of this grammar: one per answer row."""
        import llguidance

        return llguidance.LLMatcher(self.lltok, self.grammar, log_level=1)

    def for_case(self, case_id: str) -> Grammar:
        """The grammar of one case's answers: the same for every case (GroundedGrammars differs)."""
        return self


class GroundedGrammars:
    """grounded_think: one targeted grammar per case, whose think is "none" or a phrase of that case's record
    (quotes.py says why). Compiled when a case is first answered (~10 ms), kept for the run.

    quote_backoff: the grammar masks a quote the record does not hold, but the model has then already begun it,
    and the mask bends it into whatever the record holds there: an adapter that wants "POD 3. Today: no flatus"
    writes "POD 3. Today: passing flatus" and still decides True. With the switch on, a row whose greedy token
    inside the quote is one the record does not allow is answered again, in its batch, with the quote "none":
    the evidence it looked for is not in the record. Off: the masked greedy choice stands."""

    def __init__(self, tokenizer, params: dict, language: str, records: dict[str, str]):
        from ..prompting.gold_answers import EVIDENCE_CHARS, NO_EVIDENCE

        layout = params.get("answer_layout", "paper")
        if layout != "evidence_first":
            raise ConstraintError(
                f"grounded_think: true needs answer_layout: evidence_first (the think must be a quote), got "
                f"{layout!r}; set grounded_think: false or change the layout"
            )
        self.tokenizer, self.language, self.layout, self.records = tokenizer, language, layout, records
        self.max_chars = int(params.get("think_max_chars") or EVIDENCE_CHARS)
        self.none = NO_EVIDENCE[language]
        self._compiled: dict[str, Grammar] = {}
        self._none_only: Grammar | None = None
        if params.get("quote_backoff"):
            from .quotes import prefix_pattern

            none_only = targeted_schema(language, layout, think_pattern=prefix_pattern([], also=[self.none]))
            self._none_only = Grammar(tokenizer, none_only)

    def for_case(self, case_id: str) -> Grammar:
        if case_id not in self._compiled:
            if case_id not in self.records:
                raise ConstraintError(f"grounded_think: no record for case {case_id!r} (jobs and cases differ)")
            from .quotes import quote_pattern

            pattern = quote_pattern(self.records[case_id], self.max_chars, self.none)
            schema = targeted_schema(self.language, self.layout, think_pattern=pattern)
            self._compiled[case_id] = Grammar(self.tokenizer, schema, backoff=self._none_only)
        return self._compiled[case_id]


class Rows:
    """The matchers of one batch, one per row, in row order (rows never move; finished rows are skipped)."""

    def __init__(self, grammar: Grammar, n: int):
        self.g = grammar
        self.matchers = [grammar.matcher() for _ in range(n)]
        self._mask = None

    def forced(self, row: int) -> list[int]:
        """Tokens the schema forces next (jump-forward), consumed by the matcher."""
        m = self.matchers[row]
        ff = list(m.compute_ff_tokens())
        if ff:
            self._consume(m, ff)
        return ff

    def restart(self, row: int, grammar: Grammar) -> list[int]:
        """The row's answer begun again under `grammar` (quote_backoff): its forced opening span."""
        self.matchers[row] = grammar.matcher()
        return self.forced(row)

    def advance(self, row: int, token: int) -> list[int]:
        """Consume the chosen token; return the forced tokens that follow it (already consumed too)."""
        self._consume(self.matchers[row], [token])
        return [] if self.finished(row) else self.forced(row)

    def finished(self, row: int) -> bool:
        m = self.matchers[row]
        return bool(m.is_stopped() or m.is_accepting())

    def apply(self, logits: torch.Tensor, rows: Sequence[int]) -> None:
        """Set the logits of tokens the schema forbids to -inf, in place (row i of logits is rows[i])."""
        import llguidance.torch as lt

        n, vocab = logits.shape
        mask = lt.allocate_token_bitmask(n, self.g.lltok.vocab_size)
        for i, row in enumerate(rows):
            lt.fill_next_token_bitmask(self.matchers[row], mask, i)
        if vocab > self.g.lltok.vocab_size:  # padded embedding rows are never valid
            logits[:, self.g.lltok.vocab_size :] = float("-inf")
        lt.apply_token_bitmask_inplace(logits[:, : self.g.lltok.vocab_size], mask.to(logits.device))

    @staticmethod
    def _consume(m, tokens: list[int]) -> None:
        if not m.consume_tokens(tokens):
            raise ConstraintError(f"the answer grammar refused tokens {tokens}: {m.get_error()}")


_TRUE_FALSE: dict[int, tuple[list[int], list[int]]] = {}  # id(tokenizer) -> token ids starting True / False


class DecisionProbe:
    """Finds the step where each row's targeted decision ("bool" value) starts and records P(True) there."""

    def __init__(self, tokenizer, n_rows: int):
        self.tokenizer = tokenizer
        self.text = [""] * n_rows  # each row's answer so far (short: a targeted answer is < 120 tokens)
        self.p_true: list[float | None] = [None] * n_rows
        self._pieces: dict[int, str] = {}

    def piece(self, token_id: int) -> str:
        if token_id not in self._pieces:
            self._pieces[token_id] = self.tokenizer.decode([token_id], skip_special_tokens=False)
        return self._pieces[token_id]

    def feed(self, row: int, tokens: Sequence[int]) -> None:
        self.text[row] += "".join(self.piece(t) for t in tokens)

    def restart(self, row: int, tokens: Sequence[int]) -> None:
        """The row's answer begun again (quote_backoff) with `tokens`: its text and decision are forgotten."""
        self.text[row], self.p_true[row] = "", None
        self.feed(row, tokens)

    def at_decision(self, row: int) -> bool:
        return self.p_true[row] is None and DECISION.search(self.text[row][-32:]) is not None

    def open_quote(self, row: int) -> str | None:
        """The think text so far while the row is inside it (its next token continues or closes it), else None."""
        m = QUOTE.search(self.text[row])
        return m.group(1) if m else None

    def _true_false_sets(self) -> tuple[list[int], list[int]]:
        """Token ids that can start "True" / "False" (free generation: no schema mask to read them from)."""
        key = id(self.tokenizer)
        if key not in _TRUE_FALSE:
            t, f = [], []
            for piece, tid in self.tokenizer.get_vocab().items():
                text = self.tokenizer.convert_tokens_to_string([piece])
                if text and "True".startswith(text):
                    t.append(tid)
                elif text and "False".startswith(text):
                    f.append(tid)
            _TRUE_FALSE[key] = (sorted(t), sorted(f))
        return _TRUE_FALSE[key]

    def record(self, row: int, logits: torch.Tensor, masked: bool) -> None:
        """P(True) from one row's logits at its decision (masked: the schema mask is already applied)."""
        logits = logits.float()
        if masked:
            allowed = torch.isfinite(logits).nonzero()[:, 0].tolist()
        else:
            t, f = self._true_false_sets()
            allowed = t + f
        if not allowed:
            return
        probs = torch.softmax(logits[allowed], dim=-1)
        is_true = torch.tensor([self.piece(a)[:1] == "T" for a in allowed])
        self.p_true[row] = round(float(probs[is_true].sum()), 6)
