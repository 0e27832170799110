"""The cohort.jsonl contract: good lines load, every broken line names file, line and field."""

from __future__ import annotations

import json

import pytest

from pericomp_lib.core import records
from pericomp_lib.core.records import Case, CohortError, GoldLabel

GOOD = {
    "case_id": "c1",
    "center": "x",
    "split": "train",
    "language": "en",
    "record": "POD 2: creatinine 182 umol/L, baseline 84.",
    "gold": [{"complication": "acute_kidney_injury", "grade": "moderate", "evidence": ["creatinine 182 umol/L"]}],
    "human": None,
}


def _line(**changes) -> str:
    obj = {**GOOD, **changes}
    for k, v in changes.items():
        if v is ...:
            obj.pop(k)
    return json.dumps(obj, ensure_ascii=False)


def _label(**kw) -> list[dict]:
    return [{**GOOD["gold"][0], **kw}]


BROKEN = {  # name: (bad line, pieces the message must contain besides file and line)
    "bad_json": ('{"case_id": "c2", "record": ', ["invalid JSON", "column"]),
    "missing_field": (_line(case_id="c2", record=...), ["missing field", "'record'"]),
    "duplicate_case_id": (_line(), ["duplicate case_id", "'c1'", "line 1"]),
    "unknown_complication": (
        _line(case_id="c2", gold=_label(complication="acute kidney injry")),
        ["gold[0].complication", "nearest valid id is 'acute_kidney_injury'"],
    ),
    "invalid_grade": (_line(case_id="c2", gold=_label(grade="extreme")), ["gold[0].grade", "invalid grade"]),
    "empty_record": (_line(case_id="c2", record="  "), ["'record'", "empty"]),
    "evidence_not_in_record": (
        _line(case_id="c2", gold=_label(evidence=["creatinine 999"])),
        ["gold[0].evidence", "does not occur verbatim"],
    ),
    "bad_split": (_line(case_id="c2", split="dev"), ["'split'", "train"]),
    "bad_language": (_line(case_id="c2", language="fr"), ["'language'"]),
    "gold_not_list": (_line(case_id="c2", gold="急性肾损伤"), ["'gold'", "must be a list"]),
    "label_listed_twice": (_line(case_id="c2", gold=_label() * 2), ["gold[1].complication", "twice"]),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_line_names_file_line_field(tmp_path, name):
    bad, pieces = BROKEN[name]
    path = tmp_path / "cohort.jsonl"
    path.write_text(_line() + "\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(CohortError) as err:
        records.load_cohort(path)
    msg = str(err.value)
    assert f"{path}:2" in msg, msg
    for piece in pieces:
        assert piece in msg, msg


def test_cut_line_reports_the_column_where_parsing_stopped(tmp_path):
    """A line cut inside its record: the message names the end of the line, where json stopped reading (it
    used to name the column where the record's string opened), and says the line looks cut."""
    whole = _line(case_id="c2", record="POD 2: creatinine 182 umol/L, baseline 84. " * 3)
    cut = whole[: whole.index("baseline 84. POD")]
    path = tmp_path / "cohort.jsonl"
    path.write_text(_line() + "\n" + cut + "\n", encoding="utf-8")
    with pytest.raises(CohortError) as err:
        records.load_cohort(path)
    msg = str(err.value)
    assert f"{path}:2: invalid JSON at column {len(cut) + 1}, the end of the line" in msg, msg
    assert f"opened at column {whole.index('POD 2')}" in msg and "looks cut" in msg
    path.write_text(_line()[:-1] + "\n", encoding="utf-8")  # the closing brace lost
    with pytest.raises(CohortError, match=rf":1: invalid JSON at column {len(_line())}, the end of the line"):
        records.load_cohort(path)


def test_good_cohort_round_trip(tmp_path):
    zh = _line(
        case_id="c2",
        language="zh",
        record="术后第2天肌酐182umol/L。",
        gold=[{"complication": "急性肾损伤", "grade": "中", "evidence": "肌酐182umol/L"}],
    )
    path = tmp_path / "cohort.jsonl"
    path.write_text(_line() + "\n\n" + zh + "\n", encoding="utf-8")  # blank lines are skipped
    cases = records.load_cohort(path)
    assert [c.case_id for c in cases] == ["c1", "c2"]
    assert cases[1].gold == [GoldLabel("acute_kidney_injury", "moderate", ["肌酐182umol/L"])]
    assert cases[1].strict_labels() == ["急性肾损伤_中"]
    out = records.write_cohort(tmp_path / "again.jsonl", cases)
    assert records.load_cohort(out)[1].to_dict() == cases[1].to_dict()


def test_no_complication_and_gold_maps():
    case = Case("n1", "x", "validation", "en", "uneventful", [])
    assert case.labels() == ["无术后并发症"] and case.strict_labels() == ["无术后并发症_Null"]
    lenient, strict = records.gold_maps([case])
    assert lenient == {"n1": ["无术后并发症"]} and strict == {"n1": ["无术后并发症_Null"]}
    assert records.split_cases([case], "eval") == [case]
    with pytest.raises(ValueError, match="unknown split"):
        records.split_cases([case], "dev")


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(CohortError, match="no cases"):
        records.load_cohort(empty)
    with pytest.raises(FileNotFoundError, match="01_cohort"):
        records.load_cohort(tmp_path / "absent.jsonl")


def test_evidence_check_can_be_relaxed(tmp_path):
    path = tmp_path / "cohort.jsonl"
    path.write_text(_line(gold=_label(evidence=["paraphrased"])) + "\n", encoding="utf-8")
    assert records.load_cohort(path, check_evidence=False)[0].gold[0].evidence == ["paraphrased"]


def test_restrict_labels_scopes_gold_and_predictions_alike():
    from pericomp_lib.core.records import restrict_labels

    gold = {"1": ["肺炎", "急性肾损伤"], "2": ["谵妄"], "3": ["无术后并发症"]}
    out = restrict_labels(gold, ["acute_kidney_injury", "pneumonia"], strict=False)
    assert out == {"1": ["肺炎", "急性肾损伤"], "2": ["无术后并发症"], "3": ["无术后并发症"]}
    strict = restrict_labels({"1": ["谵妄_轻", "贫血_中", "肺炎_重"]}, ["pneumonia"], strict=True)
    assert strict == {"1": ["贫血_中", "肺炎_重"]}  # invented labels stay as false positives
    assert restrict_labels(gold, None, strict=False) == gold
