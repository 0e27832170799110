"""Parsed answers -> result-file labels, with the paper's rules.

Names lose parenthesised qualifiers; names the taxonomy does not know are kept verbatim (they count as
false positives, as in the published files). Rules: an empty answer becomes 无术后并发症; 感染 (source
uncertain) is dropped when another infection or pneumonia is present; strict mode drops names containing
其他 ("other") and appends the grade ("<zh short>_<轻|中|重|Null>").
"""

from __future__ import annotations

from collections.abc import Mapping

from ..core import taxonomy
from .parsing import ComprehensiveAnswer, TargetedAnswer, strip_qualifiers


def result_name(name: str) -> str:
    """Result-file name: zh short name for a known complication, else the name without its qualifiers."""
    cid = name if name in taxonomy.BY_ID or name == taxonomy.NONE_ID else taxonomy.lookup(name)
    if cid is not None:
        return taxonomy.zh_short(cid)
    return strip_qualifiers(name)


def _is_infection(name: str) -> bool:
    """A specific infection, as the authors tested it: any other name containing 感染, or pneumonia."""
    cid = name if name in taxonomy.BY_ID else taxonomy.lookup(name)
    if cid == "infection_unknown_source":
        return False
    if cid is not None:
        return cid in taxonomy.SPECIFIC_INFECTIONS
    return ("感染" in name and "来源不明" not in name) or "肺炎" in name


def _is_unknown_source(name: str) -> bool:
    cid = name if name in taxonomy.BY_ID else taxonomy.lookup(name)
    return cid == "infection_unknown_source" or (cid is None and "来源不明" in name)


def apply_rules(items: list[tuple[str, str]], strict: bool, rules: bool = True) -> list[str]:
    """(name or id, grade) pairs -> result-file labels, deduplicated in answer order."""
    if strict:
        items = [(n, g) for n, g in items if "其他" not in result_name(n)]
    if rules and any(_is_unknown_source(n) for n, _ in items) and any(_is_infection(n) for n, _ in items):
        items = [(n, g) for n, g in items if not _is_unknown_source(n)]
    labels: list[str] = []
    for name, grade in items:
        short = result_name(name)
        if strict:
            zh = taxonomy.GRADE_TO_ZH.get(grade, grade) if grade in taxonomy.GRADES else str(grade)
            label = f"{short}_{zh}"
        else:
            label = short
        if label not in labels:
            labels.append(label)
    if rules and not labels:
        labels = [f"{taxonomy.NONE_ZH}_Null" if strict else taxonomy.NONE_ZH]
    return labels


def targeted_to_labels(answers: Mapping[str, TargetedAnswer], strict: bool, rules: bool = True) -> list[str]:
    """Answers to the 22 questions of one case -> its labels; unreadable answers count as absent."""
    items = []
    for question, ans in answers.items():
        if ans.present:
            grade = ans.grade if ans.grade is not None else (ans.grade_text or "none")
            items.append((question, grade))
    return apply_rules(items, strict, rules)


def comprehensive_to_labels(answer: ComprehensiveAnswer, strict: bool, rules: bool = True) -> list[str]:
    return apply_rules(list(answer.items), strict, rules)
