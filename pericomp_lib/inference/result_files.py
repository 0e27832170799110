"""Raw model outputs -> the paper's result files, with the authors' rules and a record of every failure.

Mirrors results/format_results.ipynb in gscfwid/PeriComp (answer reading: answer_json.py and parsing.py;
labels and rules: labels.py). The authors applied the empty-answer and infection rules to targeted results
only (their comprehensive result files keep empty lists and 感染 beside specific infections); `rules=None`
reproduces that, `rules=True` (our default for new runs) applies them to both strategies so the two are
scored alike. Bad output never raises: every failure is recorded in a ParseReport with the failing text.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core import taxonomy
from ..core.io import read_json, write_json
from ..core.taxonomy import STRATEGIES
from .labels import apply_rules, comprehensive_to_labels, result_name, targeted_to_labels
from .parsing import parse_comprehensive, parse_targeted


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
            lines.append(
                "  names kept verbatim (not one of the 22): "
                + ", ".join(f"{k} x{v}" for k, v in self.unknown_names.most_common(20))
            )
        empty, short, usual = self.short_cases()
        if empty:
            lines.append(
                f"  {len(empty)} case(s) with no answers at all, counted as no complication: "
                + ", ".join(empty[:20])
                + (" ..." if len(empty) > 20 else "")
            )
        if short:
            lines.append(
                f"  {len(short)} case(s) with fewer answers than the usual {usual}: "
                + ", ".join(f"{k} ({self.answers_per_case[k]})" for k in short[:20])
                + (" ..." if len(short) > 20 else "")
            )
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
            "strategy": self.strategy,
            "strict": self.strict,
            "n_cases": self.n_cases,
            "n_answers": self.n_answers,
            "n_failures": len(self.failures),
            "by_case": dict(self.by_case()),
            "by_complication": dict(self.by_complication()),
            "unknown_names": dict(self.unknown_names),
            "cases_without_answers": self.short_cases()[0],
            "cases_with_fewer_answers": self.short_cases()[1],
            "failures": [asdict(f) for f in self.failures],
        }


def _content(value: Any) -> Any:
    """The model text inside one raw entry ({"content": ..., "reasoning_content": ...} or the text itself)."""
    if isinstance(value, dict) and "content" in value:
        return value["content"]
    return value


def _targeted_case(case_id: str, entry: Any, report: ParseReport, strict: bool, rules: bool) -> list[str]:
    if not isinstance(entry, Mapping):
        report.add(
            case_id,
            None,
            f"expected {{question: answer}} for a targeted case, got {type(entry).__name__}",
            str(entry)[:2000],
        )
        return apply_rules([], strict, rules)
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
    return targeted_to_labels(answers, strict, rules)


def _comprehensive_case(case_id: str, entry: Any, report: ParseReport, strict: bool, rules: bool) -> list[str]:
    report.n_answers += 1
    ans = parse_comprehensive(_content(entry))
    if ans.error:
        report.add(case_id, None, ans.error, ans.raw)
    for name, _ in ans.items:
        if name not in taxonomy.BY_ID and name != taxonomy.NONE_ID:
            report.unknown_names[result_name(name)] += 1
            report.add(
                case_id,
                name,
                f"unknown complication name {name!r} (kept verbatim, as the authors "
                "did; it counts as a false positive)",
                ans.raw,
            )
    return comprehensive_to_labels(ans, strict, rules)


_CASE = {"targeted": _targeted_case, "comprehensive": _comprehensive_case}


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
        report.n_cases += 1
        results[str(case_id)] = _CASE[strategy](str(case_id), entry, report, strict, use_rules)
    return results, report


def infer_strategy(path: str | Path) -> str:
    name = Path(path).name
    for s in STRATEGIES:
        if s in name:
            return s
    raise ValueError(f"{path}: cannot tell the strategy from the file name; pass --strategy targeted|comprehensive")


def cli(argv: list[str]) -> int:
    from ..core.logs import show_logs

    show_logs()
    ap = argparse.ArgumentParser(prog="python -m pericomp_lib format-results", description=__doc__.splitlines()[0])
    ap.add_argument("raw", help="raw outputs JSON ({case_id: ...}, the authors' results/raw layout)")
    ap.add_argument("--strategy", choices=STRATEGIES, help="default: from the file name")
    ap.add_argument("--strict", action="store_true", help="labels '<name>_<轻|中|重|Null>'")
    ap.add_argument(
        "--authors-exact",
        action="store_true",
        help="apply the empty-answer and infection rules to targeted files only, as the authors did",
    )
    ap.add_argument("-o", "--out", required=True, help="output result file {case_id: [labels]}")
    ap.add_argument("--report", help="also write the failure report (with failing texts) as JSON here")
    args = ap.parse_args(argv)
    try:
        strategy = args.strategy or infer_strategy(args.raw)
        raw = read_json(args.raw)
        results, report = format_results(raw, strategy, args.strict, None if args.authors_exact else True)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_json(args.out, results)
    if args.report:
        write_json(args.report, report.to_dict())
    print(report.summary())
    print(f"wrote {args.out}")
    return 0
