"""Raw model outputs -> the paper's result files, with the authors' rules and a record of every failure.

Mirrors results/format_results.ipynb in gscfwid/PeriComp:
- the answer is the body of a single ```json fence, else the text from the first '{' to the last '}'
  (two ```json fences are an error, as in the authors' `clean_json_text`);
- targeted: a complication is present when "bool" is True or "True" (we also accept true/"是"/"yes");
- names lose parenthesised qualifiers ('感染（来源不明）' -> '感染'); names the taxonomy does not know
  are kept verbatim (after that stripping), so they count as false positives, as in the published files;
- rules: an empty answer becomes 无术后并发症; 感染 (source uncertain) is dropped when another infection
  or pneumonia is present; in strict mode names containing 其他 ("other") are dropped.
The authors applied the first two rules to targeted results only (their comprehensive result files keep
empty lists and 感染 beside specific infections); `rules=None` reproduces that, `rules=True` (our
default for new runs) applies them to both strategies so the two are scored alike.

Where we are more tolerant than the authors (documented so numbers can be compared): a <think> block
before the answer is ignored; JSON with raw newlines in strings, single quotes, trailing commas,
Python True/False/None or unescaped inner quotes is repaired; grades are normalised (中度 -> 中).
Bad output never raises: every failure is recorded in a ParseReport with the failing text.
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import taxonomy
from .io import read_json, write_json

STRATEGIES = ("targeted", "comprehensive")

_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_FENCE = "```json"
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


@dataclass
class ParseFailure:
    case_id: str
    complication: str | None  # targeted: the question asked; comprehensive: the offending name or None
    error: str
    text: str


@dataclass
class ParseReport:
    """What went wrong while formatting one raw file; nothing is dropped silently."""

    strategy: str
    strict: bool
    n_cases: int = 0
    n_answers: int = 0
    failures: list[ParseFailure] = field(default_factory=list)
    unknown_names: Counter = field(default_factory=Counter)
    answers_per_case: dict = field(default_factory=dict)  # targeted: case_id -> number of answers in the raw file

    def add(self, case_id: str, complication: str | None, error: str, text: str) -> None:
        self.failures.append(ParseFailure(str(case_id), complication, error, text))

    def by_case(self) -> Counter:
        return Counter(f.case_id for f in self.failures)

    def by_complication(self) -> Counter:
        return Counter(f.complication or "-" for f in self.failures)

    def summary(self) -> str:
        lines = [
            f"{self.strategy}{' strict' if self.strict else ''}: {self.n_cases} cases, {self.n_answers} answers, "
            f"{len(self.failures)} failures"
        ]
        if self.failures:
            lines.append("  by complication: " + ", ".join(f"{k} {v}" for k, v in self.by_complication().most_common()))
            lines.append("  by case: " + ", ".join(f"{k} {v}" for k, v in self.by_case().most_common(20)))
            for f in self.failures[:5]:
                lines.append(f"  case {f.case_id} / {f.complication or '-'}: {f.error}")
        if self.unknown_names:
            lines.append("  names kept verbatim (not one of the 22): "
                         + ", ".join(f"{k} x{v}" for k, v in self.unknown_names.most_common(20)))
        empty, short, usual = self.short_cases()
        if empty:
            lines.append(f"  {len(empty)} case(s) with no answers at all, counted as no complication: "
                         + ", ".join(empty[:20]) + (" ..." if len(empty) > 20 else ""))
        if short:
            lines.append(f"  {len(short)} case(s) with fewer answers than the usual {usual}: "
                         + ", ".join(f"{k} ({self.answers_per_case[k]})" for k in short[:20])
                         + (" ..." if len(short) > 20 else ""))
        return "\n".join(lines)

    def short_cases(self) -> tuple[list[str], list[str], int]:
        """(cases with no answers, cases with fewer answers than most cases, that usual number)."""
        counts = Counter(self.answers_per_case.values())
        usual = counts.most_common(1)[0][0] if counts else 0
        empty = [k for k, n in self.answers_per_case.items() if n == 0]
        short = [k for k, n in self.answers_per_case.items() if 0 < n < usual]
        return empty, short, usual

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy, "strict": self.strict, "n_cases": self.n_cases, "n_answers": self.n_answers,
            "n_failures": len(self.failures), "by_case": dict(self.by_case()),
            "by_complication": dict(self.by_complication()), "unknown_names": dict(self.unknown_names),
            "cases_without_answers": self.short_cases()[0], "cases_with_fewer_answers": self.short_cases()[1],
            "failures": [asdict(f) for f in self.failures],
        }


# ---------------------------------------------------------------- JSON extraction and tolerant decoding

def _split_think(text: str) -> tuple[str | None, str]:
    """(<think> content, rest); an unclosed <think> swallows everything (the answer was cut off)."""
    thinks = _THINK.findall(text)
    body = _THINK.sub("", text)
    if "<think>" in body:
        head, _, tail = body.partition("<think>")
        thinks.append(tail)
        body = head
    body = body.replace("</think>", "")
    think = "\n".join(t.strip() for t in thinks).strip() or None
    return think, body


def _candidate(body: str) -> str:
    """The JSON text the authors would parse; raises ValueError when there is none or it is ambiguous."""
    n_fences = body.count(_FENCE)
    if n_fences > 1:
        raise ValueError(f"{n_fences} ```json blocks; expected exactly one answer")
    if n_fences == 1:
        inner = body.split(_FENCE, 1)[1]
        if "```" not in inner:
            raise ValueError("```json block is not closed (output truncated?)")
        return inner.split("```", 1)[0].strip()
    first, last = body.find("{"), body.rfind("}")
    if body.lstrip().startswith("[") and body.rfind("]") > 0:  # comprehensive without think: a bare list
        return body[body.find("["):body.rfind("]") + 1]
    if first == -1:
        raise ValueError("no JSON object in the output")
    if last < first:
        raise ValueError("JSON object is not closed (output truncated?)")
    return body[first:last + 1]


def _next_nonspace(s: str, i: int) -> str:
    while i < len(s) and s[i].isspace():
        i += 1
    return s[i] if i < len(s) else ""


def repair_json(s: str) -> str:
    """Rewrite near-JSON as JSON: quote style, raw control characters, inner quotes, trailing commas."""
    out: list[str] = []
    quote: str | None = None
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if quote:
            if ch == "\\" and i + 1 < n:
                nxt = s[i + 1]
                if nxt == "'":
                    out.append("'")
                elif nxt in '"\\/bfnrtu':
                    out.append(ch + nxt)
                else:  # a lone backslash is a literal backslash
                    out.append("\\\\" + nxt)
                i += 2
                continue
            if ch == quote and _next_nonspace(s, i + 1) in {",", "}", "]", ":", ""}:
                out.append('"')
                quote = None
            elif ch == '"' or ch == quote:  # an inner quote the model forgot to escape
                out.append('\\"' if ch == '"' else ch)
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\r":
                out.append("\\r")
            elif ch == "\t":
                out.append("\\t")
            elif ord(ch) < 0x20:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
            i += 1
            continue
        if ch in "\"'":
            quote = ch
            out.append('"')
        elif ch == "," and _next_nonspace(s, i + 1) in {"}", "]"}:
            pass
        else:
            m = re.match(r"(True|False|None)\b", s[i:i + 6]) if ch in "TFN" else None
            if m and (i == 0 or not (s[i - 1].isalnum() or s[i - 1] == "_")):
                out.append({"True": "true", "False": "false", "None": "null"}[m.group(1)])
                i += len(m.group(1))
                continue
            out.append(ch)
        i += 1
    return "".join(out)


def loads_tolerant(text: str) -> Any:
    """json.loads, then the repaired text; a second complete object is an error, not a guess."""
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError:
        pass
    fixed = repair_json(text)
    try:
        return json.loads(fixed)
    except json.JSONDecodeError as e:
        try:
            _, end = json.JSONDecoder().raw_decode(fixed)
        except json.JSONDecodeError:
            raise ValueError(f"invalid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
        if "{" in fixed[end:]:
            raise ValueError("more than one JSON object in the output; expected exactly one answer") from None
        raise ValueError(f"invalid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None


def extract_json(text: Any) -> tuple[Any, str | None]:
    """(decoded answer, <think> text); raises ValueError with a readable reason."""
    if isinstance(text, (dict, list)):  # some raw files store the already-decoded answer
        return text, None
    if not isinstance(text, str):
        raise ValueError(f"model output is {type(text).__name__}, not text")
    if not text.strip():
        raise ValueError("empty output")
    think, body = _split_think(text)
    if not body.strip():
        raise ValueError("no answer after the <think> block (output truncated?)")
    return loads_tolerant(_candidate(body)), think


# ---------------------------------------------------------------- answers

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
        return TargetedAnswer(None, None, think, f"answer is a JSON {type(obj).__name__}, expected an object "
                              'with "bool" and "grading"', raw)
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
            errors.append(f"complications[{i}] is {item!r}, expected {{\"name\": ..., \"grading\": ...}}")
            continue
        name = item["name"].strip()
        cid = taxonomy.lookup(name) or taxonomy.lookup(_QUALIFIER.sub("", name).strip())
        grading = item.get("grading", item.get("grade"))
        grade, err = _grade(grading)
        if err:
            errors.append(f"complications[{i}] ({name}): {err}")
        items.append((cid or name, grade if grade is not None else str(grading)))
    return ComprehensiveAnswer(items, "; ".join(errors) or None, raw, think)


# ---------------------------------------------------------------- labels and the paper's rules

def result_name(name: str) -> str:
    """Result-file name: zh short name for a known complication, else the name without its qualifiers."""
    cid = name if name in taxonomy.BY_ID or name == taxonomy.NONE_ID else taxonomy.lookup(name)
    if cid is not None:
        return taxonomy.zh_short(cid)
    return _QUALIFIER.sub("", name).strip()


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
    if rules:
        if any(_is_unknown_source(n) for n, _ in items) and any(_is_infection(n) for n, _ in items):
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


# ---------------------------------------------------------------- whole raw files

def _content(value: Any) -> Any:
    """The model text inside one raw entry ({"content": ..., "reasoning_content": ...} or the text itself)."""
    if isinstance(value, dict) and "content" in value:
        return value["content"]
    return value


def format_results(
    raw: Mapping[str, Any], strategy: str, strict: bool, rules: bool | None = True
) -> tuple[dict[str, list[str]], ParseReport]:
    """Raw outputs {case_id: ...} -> ({case_id: labels}, report).

    targeted raw: {case_id: {question heading or id: {"content": text} | text}};
    comprehensive raw: {case_id: {"content": text | object} | text}.
    rules=None applies the paper's rules as the authors did (targeted only).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if not isinstance(raw, Mapping):
        raise ValueError(f"raw outputs must be a JSON object {{case_id: ...}}, got {type(raw).__name__}")
    use_rules = (strategy == "targeted") if rules is None else rules
    report = ParseReport(strategy, strict)
    results: dict[str, list[str]] = {}
    for case_id, entry in raw.items():
        case_id = str(case_id)
        report.n_cases += 1
        if strategy == "targeted":
            if not isinstance(entry, Mapping):
                report.add(case_id, None, f"expected {{question: answer}} for a targeted case, got "
                           f"{type(entry).__name__}", str(entry)[:2000])
                results[case_id] = apply_rules([], strict, use_rules)
                continue
            answers = {}
            report.answers_per_case[case_id] = len(entry)
            for question, value in entry.items():
                report.n_answers += 1
                ans = parse_targeted(_content(value))
                if ans.error:
                    report.add(case_id, question, ans.error, ans.raw)
                if ans.present and taxonomy.lookup(question) is None:
                    report.unknown_names[result_name(question)] += 1
                answers[question] = ans
            results[case_id] = targeted_to_labels(answers, strict, use_rules)
        else:
            report.n_answers += 1
            ans = parse_comprehensive(_content(entry))
            if ans.error:
                report.add(case_id, None, ans.error, ans.raw)
            for name, _ in ans.items:
                if name not in taxonomy.BY_ID and name != taxonomy.NONE_ID:
                    report.unknown_names[result_name(name)] += 1
                    report.add(case_id, name, f"unknown complication name {name!r} (kept verbatim, as the authors "
                               "did; it counts as a false positive)", ans.raw)
            results[case_id] = comprehensive_to_labels(ans, strict, use_rules)
    return results, report


def infer_strategy(path: str | Path) -> str:
    name = Path(path).name
    for s in STRATEGIES:
        if s in name:
            return s
    raise ValueError(f"{path}: cannot tell the strategy from the file name; pass --strategy targeted|comprehensive")


def cli(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pericomp_lib format-results", description=__doc__.splitlines()[0])
    ap.add_argument("raw", help="raw outputs JSON ({case_id: ...}, the authors' results/raw layout)")
    ap.add_argument("--strategy", choices=STRATEGIES, help="default: from the file name")
    ap.add_argument("--strict", action="store_true", help="labels '<name>_<轻|中|重|Null>'")
    ap.add_argument("--authors-exact", action="store_true",
                    help="apply the empty-answer and infection rules to targeted files only, as the authors did")
    ap.add_argument("-o", "--out", required=True, help="output result file {case_id: [labels]}")
    ap.add_argument("--report", help="also write the failure report (with failing texts) as JSON here")
    args = ap.parse_args(argv)
    try:
        strategy = args.strategy or infer_strategy(args.raw)
        raw = read_json(args.raw)
        results, report = format_results(raw, strategy, args.strict, None if args.authors_exact else True)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}")
        return 2
    write_json(args.out, results)
    if args.report:
        write_json(args.report, report.to_dict())
    print(report.summary())
    print(f"wrote {args.out}")
    return 0


__all__: Iterable[str] = (
    "TargetedAnswer", "ComprehensiveAnswer", "ParseReport", "ParseFailure", "parse_targeted", "parse_comprehensive",
    "targeted_to_labels", "comprehensive_to_labels", "apply_rules", "format_results", "extract_json",
    "loads_tolerant", "repair_json", "result_name", "cli",
)
