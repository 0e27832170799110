"""Gold answers: what a fine-tuned model is trained to say, written from a case's gold labels.

Targets speak the answer format the prompts ask for (prompts.ANSWER_KEYS), in the language of the
definitions, so a model trained on them answers in a shape parsing.py reads.
"""

from __future__ import annotations

import json

from ..core import taxonomy
from ..core.records import Case
from .definitions import Definitions
from .prompts import ANSWER_KEYS, ANSWER_LAYOUTS, check_choice

# The answer vocabulary of each language (what targets write and the templates ask for).
GRADE_WORDS = {
    "zh": {"mild": "轻", "moderate": "中", "severe": "重", "none": "Null"},
    "en": {"mild": "mild", "moderate": "moderate", "severe": "severe", "none": "Null"},
}
# How a think text names a grade.
_LEVEL = {
    "zh": {"mild": "轻度", "moderate": "中度", "severe": "重度", "none": "无分级"},
    "en": {"mild": "mild", "moderate": "moderate", "severe": "severe", "none": "not graded"},
}


def _language(definitions_or_language: Definitions | str | None, case: Case) -> str:
    if isinstance(definitions_or_language, Definitions):
        return definitions_or_language.language
    lang = definitions_or_language or case.language
    if lang not in GRADE_WORDS:
        raise ValueError(f"case {case.case_id}: unknown language {lang!r}; use one of {', '.join(GRADE_WORDS)}")
    return lang


def _name(cid: str, language: str) -> str:
    return taxonomy.zh_heading(cid) if language == "zh" else taxonomy.english(cid)


def _justification(cid: str, gold, language: str) -> str:
    """A short think text that quotes the gold evidence (or says nothing in the record fits)."""
    name = _name(cid, language)
    if language == "zh":
        if gold is None:
            return f"病历中没有符合{name}诊断标准的记录，不诊断{name}。"
        quoted = "；".join(f"「{e}」" for e in gold.evidence)
        basis = f"病历记录：{quoted}。" if quoted else "病历记录中有相应表现。"
        return f"{basis}符合{name}的诊断标准，严重程度：{_LEVEL[language][gold.grade]}。"
    if gold is None:
        return f"Nothing in the record meets the diagnostic criteria for {name}; it is not diagnosed."
    quoted = "; ".join(json.dumps(e, ensure_ascii=False) for e in gold.evidence)
    basis = f"The record states: {quoted}. " if quoted else "The record documents the corresponding findings. "
    return f"{basis}This meets the diagnostic criteria for {name}; severity: {_LEVEL[language][gold.grade]}."


def _verdict(cid: str, gold, language: str) -> str:
    """The decision_first think: one short line after the decision, no quoted evidence, so the answer's
    loss is spent on the decision and the grade rather than on copying record text."""
    name = _name(cid, language)
    if language == "zh":
        if gold is None:
            return f"不符合{name}的诊断标准。"
        return f"符合{name}的诊断标准，{_LEVEL[language][gold.grade]}。"
    if gold is None:
        return f"The criteria for {name} are not met."
    return f"The criteria for {name} are met; {_LEVEL[language][gold.grade]}."


EVIDENCE_CHARS = 60  # an evidence_first quote is cut here: the profile's think_max_chars must allow it
NO_EVIDENCE = {"en": "none", "zh": "无"}


# what a negative quotes: the meta key it reads (trap_decisive: only negatives a trap was laid for, see _evidence)
NEGATIVE_QUOTES = {
    "trap": "trap_evidence",
    "decisive": "negative_evidence",
    "trap_decisive": "negative_evidence",
    "trap_neighbour": "trap_evidence",
}


def _evidence(cid: str, gold, language: str, case: Case, negative_quote: str = "trap") -> str:
    """The evidence_first think: the record's own words, copied before the decision. A positive quotes its
    gold evidence. A negative quotes, with `negative_quote` trap, the look-alike fact a trap laid for it
    (synthetic meta.trap_evidence); with decisive, first the charted fact its rule read and rejected
    (meta.negative_evidence: flatus back on POD 2, a troponin under the threshold), so the decision follows
    what the quote says rather than whether there is one; with trap_decisive, that fact for the negatives a trap
    was laid for (meta.trap_for) only, so a trap's quote reads like a positive's up to the words that rule it out
    ("POD 3. Today: passing flatus" against "POD 3. Today: no flatus passed yet"); with trap_neighbour, a trap's
    look-alike, else the finding of a present neighbouring complication that rules this one out
    (meta.neighbour_evidence: an infarction's ST change for myocardial injury, a wound's pus for organ/space
    SSI); otherwise "none"."""
    check_choice("negative_quote", negative_quote, NEGATIVE_QUOTES)
    key = NEGATIVE_QUOTES[negative_quote]
    meta = case.meta or {}
    quotes = gold.evidence if gold is not None else meta.get(key, {}).get(cid, [])
    if gold is None and negative_quote == "trap_decisive" and cid not in meta.get("trap_for", {}):
        quotes = []
    if gold is None and not quotes and negative_quote == "trap_neighbour":
        quotes = meta.get("neighbour_evidence", {}).get(cid, [])
    return quotes[0][:EVIDENCE_CHARS] if quotes else NO_EVIDENCE[language]


_THINK = {"paper": _justification, "decision_first": _verdict}


def targeted_target(
    case: Case, cid: str, language: str | None = None, answer_layout: str = "paper", negative_quote: str = "trap"
) -> str:
    """The answer a targeted prompt should get, from gold labels, in the paper's answer format:
    {"think": str, "bool": "True"|"False", "grading": 轻/中/重/Null (mild/moderate/severe/Null in en)},
    keys in the order of `answer_layout`."""
    lang = _language(language, case)
    cid = taxonomy.canonical_id(cid)
    gold = next((g for g in case.gold if g.complication == cid), None)
    grade = "none" if gold is None else gold.grade
    if answer_layout == "evidence_first":
        think = _evidence(cid, gold, lang, case, negative_quote)
    else:
        think = _THINK.get(answer_layout, _justification)(cid, gold, lang)
    answer = {"think": think, "bool": "True" if gold else "False", "grading": GRADE_WORDS[lang][grade]}
    check_choice("answer_layout", answer_layout, ANSWER_LAYOUTS)
    return json.dumps({k: answer[k] for k in ANSWER_KEYS[answer_layout]}, ensure_ascii=False)


def comprehensive_target(case: Case, think: bool = True, language: str | None = None) -> str:
    """The comprehensive answer from gold labels: {"think": [...], "complications": [...]} or, without
    think, the bare list; no complication is answered as the paper's "无术后并发症" / Null."""
    lang = _language(language, case)
    order = {c: i for i, c in enumerate(taxonomy.IDS)}
    gold = sorted(case.gold, key=lambda g: order[g.complication])
    items = [{"name": _name(g.complication, lang), "grading": GRADE_WORDS[lang][g.grade]} for g in gold]
    if not items:
        none_name = taxonomy.NONE_ZH if lang == "zh" else taxonomy.NONE_EN
        items = [{"name": none_name, "grading": "Null"}]
    if not think:
        return json.dumps(items, ensure_ascii=False)
    if gold:
        thoughts = [_justification(g.complication, g, lang) for g in gold]
    else:
        thoughts = [
            "病历中没有符合任何术后并发症诊断标准的记录。"
            if lang == "zh"
            else "Nothing in the record meets the criteria of any postoperative complication."
        ]
    return json.dumps({"think": thoughts, "complications": items}, ensure_ascii=False)
