"""What an evidence_first answer may quote: "none", or the start of a phrase of its own record.

Why: an adapter taught to quote the record and then decide also writes quotes the record does not hold
("tropic" in a record without a troponin) and decides True after them; in seed 1 of the CPU default (48
cases) 7 of its 14 false positives followed such a quote, and every true positive followed a real one. Every
quote the training targets hold starts a phrase (line start, after ". ", "; ", ": ", ", ", a tab, or the
Chinese 。；：，) and is cut at EVIDENCE_CHARS, so a grammar that allows only those keeps training and
decoding alike. The pattern is a trie of the phrases with every node an end: any prefix of a phrase is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PHRASE_START = re.compile(r"(?:^|(?<=[.;:,] )|(?<=[。；：，])|(?<=\t))(?=\S)")


def phrases(record: str, max_chars: int) -> list[str]:
    """Every phrase of the record cut at `max_chars`, from where it starts to the end of its line."""
    out: dict[str, None] = {}
    for line in record.split("\n"):
        for m in PHRASE_START.finditer(line):
            out[line[m.start() :][:max_chars]] = None
    return list(out)


def prefix_pattern(texts: Iterable[str], also: Iterable[str] = ()) -> str:
    """An anchored regex matching a non-empty prefix of one of `texts`, or one of `also` exactly."""
    trie: dict = {}
    for t in texts:
        node = trie
        for ch in t:
            node = node.setdefault(ch, {})

    def emit(node: dict) -> str:  # iterative would be safer for long phrases; these are cut at ~64 characters
        return "|".join(re.escape(ch) + (f"(?:{emit(child)})?" if child else "") for ch, child in node.items())

    alternatives = [re.escape(a) for a in also] + ([emit(trie)] if trie else [])
    if not alternatives:
        raise ValueError("prefix_pattern: no phrase and no fixed alternative: the pattern would match nothing")
    return "^(?:" + "|".join(alternatives) + ")$"


def quote_pattern(record: str, max_chars: int, none: str) -> str:
    """The think pattern of one record: `none` or a phrase start (see module docstring)."""
    return prefix_pattern(phrases(record, max_chars), also=[none])
