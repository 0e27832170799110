"""Reading the authors' public layout (a PeriComp clone) without copying anything into this repo.

    results/<center>/*.json               {case_id: [zh short names]}      + gold.json
    results/strict/<center>/*.json        {case_id: ["<zh short>_<grade>"]} + gold.json
    data_source/center1/train_val.json    {"train": [ints], "val": [ints]}
    data_source/center1/gold_standard.json, human_expert.json
                                          {case_id: {"think": [...], "complications": [{name, grading}]}}
    data_source/medical_record.json       {case_id: record text} (the authors publish only
                                          medical_record_example.json; the full file stays private)

Every loader names the file and the case when something is off, and says what to do.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..core import taxonomy
from ..core.io import read_json
from ..core.predictions import PredictionFileError, label_map
from ..core.records import Case, CohortError, case_from_dict

CENTERS = ("center1", "center2")


def results_dir(pericomp_dir: str | os.PathLike, center: str, strict: bool = False) -> Path:
    root = Path(pericomp_dir)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root}: PeriComp folder not found (point pericomp_dir at a clone of gscfwid/PeriComp)"
        )
    d = root / "results" / ("strict" if strict else "") / center
    if not d.is_dir():
        have = sorted(p.name for p in (d.parent.iterdir() if d.parent.is_dir() else []) if p.is_dir())
        raise FileNotFoundError(
            f"{d}: results folder for center {center!r} not found (found: {', '.join(have) or 'none'})"
        )
    return d


def list_prediction_files(pericomp_dir: str | os.PathLike, center: str, strict: bool = False) -> list[Path]:
    """Every prediction file of a center, sorted by name: *.json whose name does not contain 'gold'
    (the authors' rule; so gold.json and any gold copy are never scored as a model)."""
    d = results_dir(pericomp_dir, center, strict)
    return sorted(p for p in d.glob("*.json") if "gold" not in p.name and p.is_file())


def load_gold(pericomp_dir: str | os.PathLike, center: str, strict: bool = False) -> dict[str, list[str]]:
    """results[/strict]/<center>/gold.json as {case_id: [labels]}."""
    path = results_dir(pericomp_dir, center, strict) / "gold.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: gold file missing; every results folder needs gold.json ({{case_id: [labels]}}) next to "
            "the prediction files"
        )
    gold = label_map(read_json(path), path)
    if not gold:
        raise PredictionFileError(f"{path}: gold file has no cases")
    return gold


def split_ids(pericomp_dir: str | os.PathLike) -> dict[str, list[str]]:
    """data_source/center1/train_val.json as {'train': [...], 'validation': [...]} (ids as strings)."""
    path = Path(pericomp_dir) / "data_source" / "center1" / "train_val.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: train/validation split file not found (expected {{'train': [...], 'val': [...]}})"
        )
    obj = read_json(path)
    if not isinstance(obj, dict) or "train" not in obj or "val" not in obj:
        raise ValueError(f"{path}: expected an object with lists 'train' and 'val'")
    return {"train": [str(i) for i in obj["train"]], "validation": [str(i) for i in obj["val"]]}


def validation_ids(pericomp_dir: str | os.PathLike) -> list[str]:
    """Center-1 validation case ids (ints in the file, strings here), in file order."""
    return split_ids(pericomp_dir)["validation"]


def _expert_labels(entry, where: str) -> list[dict]:
    """{think, complications: [{name, grading}]} -> contract label dicts; 无术后并发症 means none."""
    if isinstance(entry, dict):
        items = entry.get("complications", [])
    elif isinstance(entry, list):
        items = entry
    else:
        raise CohortError(f"{where}: expected {{'think': [...], 'complications': [...]}}, got {type(entry).__name__}")
    out: dict[str, dict] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "name" not in item:
            raise CohortError(f"{where}: complications[{i}] must be an object with 'name' and 'grading'")
        cid = taxonomy.lookup(item["name"])
        if cid is None:
            raise CohortError(
                f"{where}: complications[{i}].name {item['name']!r} is not one of the 22 complications "
                f"(nearest: {taxonomy.nearest_id(str(item['name']))!r})"
            )
        if cid == taxonomy.NONE_ID:
            continue
        label = {"complication": cid, "grade": taxonomy.canonical_grade(item.get("grading")), "evidence": []}
        if cid in out:
            if out[cid]["grade"] != label["grade"]:
                raise CohortError(f"{where}: {item['name']!r} listed twice with different gradings")
            continue
        out[cid] = label
    return list(out.values())


def _records_file(src: Path, records_file: str | os.PathLike | None) -> Path:
    """The full records file when there, else the authors' public example."""
    if records_file is not None:
        return Path(records_file)
    for name in ("medical_record.json", "medical_record_example.json"):
        if (src / name).exists():
            return src / name
    raise FileNotFoundError(
        f"{src}: no medical_record.json (the authors publish only medical_record_example.json); pass "
        "records_file= pointing at a JSON {case_id: record text}"
    )


def _read_object(path: Path, shape: str) -> dict:
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise CohortError(f"{path}: expected a JSON object {shape}")
    return obj


def _warn_left_out(no_gold: list[str], no_record: list[str], no_split: list[str]) -> None:
    for ids, what in (
        (no_gold, "records without a gold_standard entry (left out)"),
        (no_record, "gold_standard cases without a record (left out)"),
        (no_split, "cases in neither train nor val of train_val.json (split 'test')"),
    ):
        if ids:
            msg = f"{len(ids)} {what}: {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}"
            # a warning, not a log line: the user must act: cases left out of the cohort
            warnings.warn(msg, stacklevel=3)


def load_cases(pericomp_dir: str | os.PathLike, records_file: str | os.PathLike | None = None) -> list[Case]:
    """The authors' center-1 cases as contract Cases (ids kept, language zh, center 'center1').

    records_file defaults to data_source/medical_record.json, else medical_record_example.json. Gold comes
    from gold_standard.json (their 'think' is reasoning, not verbatim evidence, so evidence is []), the
    human expert's answers go to Case.human, the split from train_val.json ('val' -> 'validation'; cases
    in neither list -> 'test', with a warning). Cases lacking a record or a gold entry are left out and
    counted in a warning.
    """
    root = Path(pericomp_dir)
    src = root / "data_source"
    records_path = _records_file(src, records_file)
    records = _read_object(records_path, "{case_id: record text}")
    gold_path = src / "center1" / "gold_standard.json"
    gold = _read_object(gold_path, "{case_id: {think, complications}}")
    human_path = src / "center1" / "human_expert.json"
    human = read_json(human_path) if human_path.exists() else {}
    try:
        splits = split_ids(root)
    except FileNotFoundError:
        splits = {"train": [], "validation": []}
    split_of = {i: "train" for i in splits["train"]} | {i: "validation" for i in splits["validation"]}

    cases: list[Case] = []
    no_gold, no_split = [], []
    for cid, record in records.items():
        cid = str(cid)
        if cid not in gold:
            no_gold.append(cid)
            continue
        if not isinstance(record, str):
            raise CohortError(f"{records_path}: case {cid!r}: record must be text, got {type(record).__name__}")
        if cid not in split_of:
            no_split.append(cid)
        obj = {
            "case_id": cid,
            "center": "center1",
            "split": split_of.get(cid, "test"),
            "language": "zh",
            "record": record,
            "gold": _expert_labels(gold[cid], f"{gold_path}: case {cid!r}"),
            "human": _expert_labels(human[cid], f"{human_path}: case {cid!r}") if cid in human else None,
        }
        cases.append(case_from_dict(obj, f"{records_path}: case {cid!r}", check_evidence=False))
    _warn_left_out(no_gold, [k for k in gold if str(k) not in records], no_split)
    if not cases:
        raise CohortError(f"{records_path}: no case has both a record and a gold_standard entry")
    return cases
