"""ICD codes in MIMIC-IV: display format, the "surgical procedure" rule, and the silver-label map.

MIMIC stores codes without dots ("N179", "5849", "0DTJ0ZZ", "4573"); records show them the way
clinicians write them ("N17.9", "584.9"), so evidence strings read naturally. The mapping table
lives in pericomp_lib/data/mimic_icd_map.csv (reviewable, one row per code or code prefix).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ...core import taxonomy

MAP_PATH = Path(str(resources.files("pericomp_lib") / "data" / "mimic_icd_map.csv"))
MAP_COLUMNS = ("icd_version", "code", "match", "complication", "confidence", "postop_specific", "description", "note")
CONFIDENCES = ("high", "medium", "low")

# ICD-10-PCS, section 0 (Medical and Surgical): character 3 is the root operation, character 5 the approach.
PCS_EXCLUDED_ROOT_OPS = {"2": "Change", "9": "Drainage", "J": "Inspection", "K": "Map"}
PCS_OPERATIVE_APPROACHES = {"0": "Open", "4": "Percutaneous endoscopic", "F": "Natural opening, endoscopic assistance"}
# ICD-9-CM volume 3: chapters 01-86 are operations; these bedside or diagnostic codes inside them are not.
ICD9_NON_OPERATIVE_PREFIXES = (
    "389",  # 38.9x puncture of vessel: arterial and central lines
    "3995",  # haemodialysis
    "372",  # 37.2x diagnostic cardiac procedures (catheterisation, EP study)
    "3491",  # thoracentesis
    "5491",  # percutaneous abdominal drainage (paracentesis)
    "0331",  # spinal tap
    "4131",  # bone-marrow biopsy
    "5794",  # indwelling urinary catheter
    "4413",  # other gastroscopy
    "4513",
    "4523",
    "4524",  # diagnostic enteroscopy, colonoscopy, sigmoidoscopy
    "3321",
    "3322",
    "3323",
    "3324",  # diagnostic bronchoscopy
    "5110",  # ERCP
    "8607",  # implantable venous access port
)


def format_dx(code: str, version: int) -> str:
    """ICD-9-CM / ICD-10-CM diagnosis code with its dot: N179 -> N17.9, 5849 -> 584.9, E8781 -> E878.1."""
    code = str(code).strip()
    if int(version) == 9 and code.startswith("E"):
        return code if len(code) <= 4 else f"{code[:4]}.{code[4:]}"
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def format_px(code: str, version: int) -> str:
    """ICD-9-CM procedures carry a dot after two digits (4573 -> 45.73); ICD-10-PCS has none."""
    code = str(code).strip()
    if int(version) == 9 and len(code) > 2:
        return f"{code[:2]}.{code[2:]}"
    return code


def is_surgical(code: str, version: int) -> bool:
    """True for an operation: see docs/mimic.md ("What counts as surgery")."""
    code = str(code).strip().upper()
    if int(version) == 10:
        if len(code) != 7:
            return False
        if code[0] == "0":  # Medical and Surgical
            return code[2] not in PCS_EXCLUDED_ROOT_OPS and code[4] in PCS_OPERATIVE_APPROACHES
        # Obstetrics, Extraction by open approach = caesarean section (10D00Z*)
        return code[0] == "1" and code[2] == "D" and code[4] == "0"
    if int(version) == 9:
        if len(code) < 2 or not code[:2].isdigit():
            return False
        return 1 <= int(code[:2]) <= 86 and not code.startswith(ICD9_NON_OPERATIVE_PREFIXES)
    raise ValueError(f"icd_version must be 9 or 10, got {version!r}")


@dataclass(frozen=True)
class MapRow:
    icd_version: int
    code: str
    match: str  # prefix | exact
    complication: str
    confidence: str
    postop_specific: bool
    description: str
    note: str


class IcdMap:
    """Longest-prefix lookup of a diagnosis code in the mapping table."""

    def __init__(self, rows: list[MapRow]):
        self.rows = rows
        self._exact = {(r.icd_version, r.code): r for r in rows if r.match == "exact"}
        self._prefix = {(r.icd_version, r.code): r for r in rows if r.match == "prefix"}
        self._max = max((len(r.code) for r in rows), default=0)

    def lookup(self, code: str, version: int) -> MapRow | None:
        code = str(code).strip().upper()
        version = int(version)
        if (version, code) in self._exact:
            return self._exact[(version, code)]
        for n in range(min(len(code), self._max), 0, -1):
            row = self._prefix.get((version, code[:n]))
            if row is not None:
                return row
        return None


def load_icd_map(path: str | Path | None = None) -> IcdMap:
    """Read and validate the mapping table; a bad row names file, line and the fix."""
    path = Path(path) if path else MAP_PATH
    if not path.exists():
        raise FileNotFoundError(f"{path}: ICD mapping table not found")
    rows: list[MapRow] = []
    seen: dict[tuple[int, str, str], int] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != MAP_COLUMNS:
            raise ValueError(f"{path}: header must be {','.join(MAP_COLUMNS)}, got {reader.fieldnames}")
        for lineno, raw in enumerate(reader, 2):
            where = f"{path}:{lineno}"
            if raw["icd_version"] not in {"9", "10"}:
                raise ValueError(f"{where}: icd_version must be 9 or 10, got {raw['icd_version']!r}")
            if raw["match"] not in {"prefix", "exact"}:
                raise ValueError(f"{where}: match must be 'prefix' or 'exact', got {raw['match']!r}")
            if raw["complication"] not in taxonomy.IDS:
                near = taxonomy.nearest_id(raw["complication"])
                raise ValueError(
                    f"{where}: complication {raw['complication']!r} is not a taxonomy id (nearest {near!r})"
                )
            if raw["confidence"] not in CONFIDENCES:
                raise ValueError(f"{where}: confidence must be one of {CONFIDENCES}, got {raw['confidence']!r}")
            if raw["postop_specific"] not in {"0", "1"}:
                raise ValueError(f"{where}: postop_specific must be 0 or 1")
            code = raw["code"].strip().upper()
            if not code or "." in code:
                raise ValueError(f"{where}: code {raw['code']!r} must be written without dots, as MIMIC stores it")
            key = (int(raw["icd_version"]), code, raw["match"])
            if key in seen:
                raise ValueError(f"{where}: code {code} ({raw['match']}) already on line {seen[key]}")
            seen[key] = lineno
            rows.append(
                MapRow(
                    int(raw["icd_version"]),
                    code,
                    raw["match"],
                    raw["complication"],
                    raw["confidence"],
                    raw["postop_specific"] == "1",
                    raw["description"],
                    raw["note"],
                )
            )
    return IcdMap(rows)
