"""A user's own cases: a cohort.jsonl (the contract itself) or a spreadsheet-friendly CSV.

CSV columns: case_id, record, labels, split, center, language. `labels` lists complications with an
optional grade, e.g. "急性肾损伤:中;肺炎:轻" or "acute_kidney_injury:moderate; pneumonia" (no grade means
'none'); an empty cell or 无术后并发症 means no complication. split/center/language may be left out of the
file when defaults are given. Any other column is kept in the case's `meta`. Every error names the file,
the row (as a spreadsheet shows it, header = row 1) and the column.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from ..core import taxonomy
from ..core.io import read_text
from ..core.records import Case, CohortError, case_from_dict, load_cohort

COLUMNS = ("case_id", "record", "labels", "split", "center", "language")
REQUIRED_COLUMNS = ("case_id", "record")
_LABEL_SEP = re.compile(r"[;；|\n]")
_GRADE_SEP = re.compile(r"[:：]")


def load_jsonl(path: str | os.PathLike, check_evidence: bool = True) -> list[Case]:
    """The JSONL contract is records.load_cohort's; one implementation, one set of error messages."""
    return load_cohort(path, check_evidence=check_evidence)


def parse_labels(cell: str, where: str) -> list[dict]:
    """'急性肾损伤:中;肺炎' -> gold dicts; a clear error for an unknown name or grade."""
    gold: list[dict] = []
    for token in (t.strip() for t in _LABEL_SEP.split(cell or "")):
        if not token:
            continue
        parts = _GRADE_SEP.split(token, maxsplit=1)
        name, grade = parts[0].strip(), (parts[1].strip() if len(parts) == 2 else "none")
        cid = taxonomy.lookup(name)
        if cid is None:
            raise CohortError(
                f"{where}, column 'labels': unknown complication {name!r}; nearest valid id is "
                f"{taxonomy.nearest_id(name)!r}. Write 'name:grade' items separated by ';' "
                f"(e.g. 急性肾损伤:中;肺炎:轻 or acute_kidney_injury:moderate)"
            )
        if cid == taxonomy.NONE_ID:
            continue
        try:
            grade = taxonomy.canonical_grade(grade)
        except ValueError as e:
            raise CohortError(f"{where}, column 'labels': {name}: {e}") from None
        gold.append({"complication": cid, "grade": grade, "evidence": []})
    return gold


def load_csv(
    path: str | os.PathLike,
    split: str | None = None,
    center: str | None = None,
    language: str | None = None,
    delimiter: str = ",",
) -> list[Case]:
    """Read a CSV of cases; split/center/language fill empty or missing columns."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: CSV file not found")
    defaults = {"split": split, "center": center, "language": language}
    cases: list[Case] = []
    seen: dict[str, int] = {}
    # not UTF-8: file and line named; a byte-order mark is dropped (as in cohort.jsonl)
    with io.StringIO(read_text(path, CohortError), newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if not header:
            raise CohortError(f"{path}: empty file; expected a header row with {', '.join(COLUMNS)}")
        reader.fieldnames = header
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        missing += [c for c in ("split", "center", "language") if c not in header and defaults[c] is None]
        if missing:
            raise CohortError(
                f"{path}: row 1 (header): missing column(s) {', '.join(missing)}; found {', '.join(header)}. "
                "split/center/language may instead be given as arguments"
            )
        for row_no, row in enumerate(reader, start=2):
            if None in row:
                raise CohortError(f"{path}: row {row_no}: more cells than header columns (quote text with commas)")
            if not any((v or "").strip() for v in row.values()):
                continue
            where = f"{path}: row {row_no}"
            obj = {k: (row.get(k) or "").strip() or defaults.get(k) for k in ("case_id", "split", "center", "language")}
            for col in ("case_id", "split", "center", "language"):
                if not obj[col]:
                    raise CohortError(f"{where}, column {col!r}: empty; fill it or pass a default for {col}")
            obj["record"] = row.get("record") or ""
            obj["gold"] = parse_labels(row.get("labels") or "", where)
            obj["meta"] = {k: v for k, v in row.items() if k not in COLUMNS and v not in (None, "")}
            try:
                case = case_from_dict(obj, where, check_evidence=False)
            except CohortError as e:  # re-word "field" as the CSV column the user edits
                raise CohortError(str(e).replace(": field ", ", column ")) from None
            if case.case_id in seen:
                raise CohortError(
                    f"{where}, column 'case_id': duplicate {case.case_id!r} (first on row {seen[case.case_id]})"
                )
            seen[case.case_id] = row_no
            cases.append(case)
    if not cases:
        raise CohortError(f"{path}: no cases in file")
    return cases
