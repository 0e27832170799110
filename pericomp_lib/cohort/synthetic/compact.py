"""Which facts a compact record keeps: every event and trap, and only a token of the routine charting.

Why: a CPU run of the whole study (LoRA training plus 22 targeted questions per record) cannot afford
~3k-token records. A compact record is written from the *same* simulated course, so the gold labels
(derived from the full course) stay identical; it drops only routine background charting (normal
daily vitals, routine lab panels, quiet drain outputs), which no rule uses as proof and no trap relies
on. Proof findings are always kept, so evidence strings are still quoted verbatim from the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from .facts import Course, Finding

RECORD_LENGTHS = ("full", "compact", "notes")  # notes: compact without the lab table (see writer.render)
VITAL_KEYS = frozenset({"temp", "hr", "rr"})
FIRST_POD = 1  # the first ward-round day keeps its creatinine: shows a post-operative value next to the baseline


def check_record_length(record_length: str) -> str:
    if record_length not in RECORD_LENGTHS:
        raise ValueError(
            f"record_length={record_length!r}: use one of {', '.join(RECORD_LENGTHS)} "
            "('compact' writes ~5x shorter records from the same facts, for CPU runs; 'notes' the same without the "
            "laboratory table, whose values the compact notes already state)"
        )
    return record_length


def _keep(c: Course, f: Finding, routine: bool, proof: set[int]) -> bool:
    if id(f) in proof or not routine:
        return True  # proof of a gold label, or an event / trap fact
    overrides = c.state.get(f.day, {})
    if f.kind == "bowel":
        return f.code != "diet_ok"  # the ileus rule reads the day flatus returns; diet is routine
    if f.kind == "lab":
        return f.day < 0 or f.code in overrides or (f.day == FIRST_POD and f.code == "cr")
    if f.kind == "vitals":
        return bool(VITAL_KEYS & set(overrides))
    return False  # routine drain outputs and anything else background adds


def select(c: Course, proof: Iterable[Finding] = ()) -> Course:
    """A copy of the course holding only what a compact record writes (same Finding objects, so
    `id(finding)` still maps proof to its rendered fragment)."""
    start = len(c.findings) if c.routine_from is None else c.routine_from
    ids = {id(f) for f in proof}
    kept = [f for i, f in enumerate(c.findings) if _keep(c, f, i >= start, ids)]
    return replace(c, findings=kept)
