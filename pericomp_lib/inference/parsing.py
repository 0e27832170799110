"""One model answer -> what it says: present or not and the grade (targeted), or the names it lists (comprehensive).

As the authors read answers (results/format_results.ipynb in gscfwid/PeriComp): targeted, a complication is
present when "bool" is True or "True" (we also accept true/"是"/"yes"); comprehensive names are looked up
with and without their parenthesised qualifiers and kept verbatim when unknown. More tolerant than the
authors (documented so numbers can be compared): grades are normalised (中度 -> 中) and the JSON is read
by answer_json.py. Parsing never raises: an unreadable answer carries its error and raw text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..core import taxonomy
from .answer_json import extract_json

_QUALIFIER = re.compile(r"[\(（][^)）]*[\)）]")
_TRUE = {"true", "是", "yes", "y", "1", "存在", "有"}
_FALSE = {"false", "否", "no", "n", "0", "不存在", "无"}


@dataclass
class TargetedAnswer:
    present: bool | None
    grade: str | None  # mild | moderate | severe | none (None when missing or unreadable)
    think: str | None
    error: str | None
    raw: str
    grade_text: str | None = None  # the grading as written, for strict labels when it is not a known grade


@dataclass
class ComprehensiveAnswer:
    items: list[tuple[str, str]]  # (canonical id, or the verbatim name when unknown; grade or verbatim grading)
    error: str | None
    raw: str
    think: str | None = None


def strip_qualifiers(name: str) -> str:
    """'感染（来源不明）' -> '感染': the authors' names lose every parenthesised qualifier."""
    return _QUALIFIER.sub("", name).strip()


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise ValueError(f'"bool" is {value!r}; expected True or False')


def _think_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def _grade(value: Any) -> tuple[str | None, str | None]:
    """(canonical grade or None, error); a missing grading is 'none' (the authors' default 'Null')."""
    try:
        return taxonomy.canonical_grade(value), None
    except ValueError:
        return None, f"grading {value!r} is not one of 轻/中/重/Null"


def parse_targeted(text: str) -> TargetedAnswer:
    """One yes/no answer ({"think", "bool", "grading"}) -> TargetedAnswer; never raises."""
    raw = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    try:
        obj, think = extract_json(text)
    except ValueError as e:
        return TargetedAnswer(None, None, None, str(e), raw)
    if not isinstance(obj, dict):
        return TargetedAnswer(
            None,
            None,
            think,
            f'answer is a JSON {type(obj).__name__}, expected an object with "bool" and "grading"',
            raw,
        )
    think = _think_text(obj.get("think")) or think
    if "bool" not in obj:
        return TargetedAnswer(None, None, think, f'answer has no "bool" (keys: {", ".join(map(str, obj))})', raw)
    try:
        present = _as_bool(obj["bool"])
    except ValueError as e:
        return TargetedAnswer(None, None, think, str(e), raw)
    grading = obj.get("grading", obj.get("grade"))
    grade, err = _grade(grading)
    return TargetedAnswer(present, grade, think, err, raw, None if grading is None else str(grading))


def parse_comprehensive(text: str) -> ComprehensiveAnswer:
    """One list answer ({"think", "complications": [{"name", "grading"}]}); never raises.

    Well-formed items are kept even when others are broken; the error then names the broken ones.
    """
    raw = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    try:
        obj, think = extract_json(text)
    except ValueError as e:
        return ComprehensiveAnswer([], str(e), raw)
    if isinstance(obj, list):  # comprehensive_think: false asks for the bare list
        obj = {"complications": obj}
    if not isinstance(obj, dict) or "complications" not in obj:
        what = f"keys: {', '.join(map(str, obj))}" if isinstance(obj, dict) else f"a JSON {type(obj).__name__}"
        return ComprehensiveAnswer([], f'answer has no "complications" list ({what})', raw, think)
    think = _think_text(obj.get("think")) or think
    comps = obj["complications"]
    if comps is None or comps == "":
        comps = []
    if not isinstance(comps, list):
        return ComprehensiveAnswer([], f'"complications" is a {type(comps).__name__}, expected a list', raw, think)
    items: list[tuple[str, str]] = []
    errors: list[str] = []
    for i, item in enumerate(comps):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            errors.append(f'complications[{i}] is {item!r}, expected {{"name": ..., "grading": ...}}')
            continue
        name = item["name"].strip()
        cid = taxonomy.lookup(name) or taxonomy.lookup(strip_qualifiers(name))
        grading = item.get("grading", item.get("grade"))
        grade, err = _grade(grading)
        if err:
            errors.append(f"complications[{i}] ({name}): {err}")
        items.append((cid or name, grade if grade is not None else str(grading)))
    return ComprehensiveAnswer(items, "; ".join(errors) or None, raw, think)
