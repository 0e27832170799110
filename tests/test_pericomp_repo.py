"""Reading the authors' layout: a tiny invented layout in tmp_path, plus checks on the real clone."""

import json

import pytest

from pericomp_lib.cohort import pericomp_repo as repo
from pericomp_lib.core import records
from pericomp_lib.core.predictions import PredictionFileError, load_predictions

NONE = "无术后并发症"


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def layout(tmp_path):
    """results/center2 with gold, two models (one lacking a case), strict, and a center-1 data_source."""
    r = tmp_path / "results"
    _write(r / "center2" / "gold.json", {"1": ["肺炎"], "2": [NONE], "3": ["谵妄", "感染"]})
    _write(r / "center2" / "model_b.json", {"1": ["肺炎"], "2": [NONE], "3": ["谵妄"], "99": ["肺炎"]})
    _write(r / "center2" / "model_a.json", {"1": ["肺炎"], "3": []})
    _write(r / "center2" / "gold_copy.json", {"1": ["肺炎"]})
    (r / "center2" / "notes.txt").write_text("not a prediction file")
    _write(r / "strict" / "center2" / "gold.json", {"1": ["肺炎_中"], "2": [f"{NONE}_Null"]})
    _write(r / "strict" / "center2" / "m_strict.json", {"1": ["肺炎_中"]})
    ds = tmp_path / "data_source"
    _write(ds / "center1" / "train_val.json", {"train": [1, 3], "val": [2]})
    _write(
        ds / "medical_record.json",
        {"1": "记录一：术后发热。", "2": "记录二：恢复良好。", "3": "记录三：谵妄。", "4": "无金标准"},
    )
    _write(
        ds / "center1" / "gold_standard.json",
        {
            "1": {"think": ["..."], "complications": [{"name": "肺炎", "grading": "中"}]},
            "2": {"think": [], "complications": []},
            "3": {
                "think": [],
                "complications": [{"name": "谵妄", "grading": "Null"}, {"name": "感染（来源不明）", "grading": "重"}],
            },
        },
    )
    _write(
        ds / "center1" / "human_expert.json",
        {
            "1": {"think": [], "complications": [{"name": "肺炎", "grading": "轻"}]},
            "2": {"think": [], "complications": [{"name": NONE, "grading": "Null"}]},
        },
    )
    return tmp_path


def test_list_prediction_files_skips_gold_and_non_json(layout):
    files = repo.list_prediction_files(layout, "center2")
    assert [p.name for p in files] == ["model_a.json", "model_b.json"]
    assert [p.name for p in repo.list_prediction_files(layout, "center2", strict=True)] == ["m_strict.json"]


def test_unknown_center_is_a_clear_error(layout):
    with pytest.raises(FileNotFoundError, match="center 'center9' not found.*center2"):
        repo.list_prediction_files(layout, "center9")


def test_load_predictions_keeps_requested_cases_and_reports_extras(layout):
    pf = load_predictions(layout / "results/center2/model_b.json", ["1", "2", "3"])
    assert pf.model == "model_b" and dict(pf) == {"1": ["肺炎"], "2": [NONE], "3": ["谵妄"]}
    assert pf.extra == ["99"] and pf.missing == []


def test_missing_cases_raise_naming_file_and_ids(layout):
    with pytest.raises(PredictionFileError, match=r"model_a\.json: lacks 1 of 3 cases \(2\)"):
        load_predictions(layout / "results/center2/model_a.json", ["1", "2", "3"])


def test_missing_empty_counts_them_as_no_complication(layout):
    with pytest.warns(UserWarning, match="1 of 3 cases missing"):
        pf = load_predictions(layout / "results/center2/model_a.json", ["1", "2", "3"], missing="empty")
    assert pf.missing == ["2"] and pf["2"] == [NONE] and pf["3"] == []
    with pytest.warns(UserWarning):
        ps = load_predictions(layout / "results/strict/center2/m_strict.json", ["1", "2"], missing="empty")
    assert ps["2"] == [f"{NONE}_Null"]


def test_bad_shapes_name_file_and_case(layout, tmp_path):
    bad = tmp_path / "bad.json"
    _write(bad, {"7": "肺炎"})
    with pytest.raises(PredictionFileError, match=r"bad\.json: case '7': expected a list"):
        load_predictions(bad)
    _write(bad, ["肺炎"])
    with pytest.raises(PredictionFileError, match="expected a JSON object"):
        load_predictions(bad)
    bad.write_text('{"1": [', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.json: line 1"):
        load_predictions(bad)


def test_load_gold_and_missing_gold(layout):
    assert repo.load_gold(layout, "center2") == {"1": ["肺炎"], "2": [NONE], "3": ["谵妄", "感染"]}
    assert repo.load_gold(layout, "center2", strict=True)["1"] == ["肺炎_中"]
    (layout / "results/center2/gold.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"gold\.json: gold file missing"):
        repo.load_gold(layout, "center2")


def test_validation_ids_are_strings(layout):
    assert repo.validation_ids(layout) == ["2"]
    assert repo.split_ids(layout) == {"train": ["1", "3"], "validation": ["2"]}


def test_load_cases_builds_contract_cases(layout):
    with pytest.warns(UserWarning, match="1 records without a gold_standard entry"):
        cases = repo.load_cases(layout)
    by_id = {c.case_id: c for c in cases}
    assert sorted(by_id) == ["1", "2", "3"]
    c1, c2, c3 = by_id["1"], by_id["2"], by_id["3"]
    assert (c1.center, c1.language, c1.split, c2.split) == ("center1", "zh", "train", "validation")
    assert [(g.complication, g.grade, g.evidence) for g in c1.gold] == [("pneumonia", "moderate", [])]
    assert c2.gold == [] and c2.labels() == [NONE]
    assert c3.strict_labels() == ["感染_重", "谵妄_Null"]
    assert [(h.complication, h.grade) for h in c1.human] == [("pneumonia", "mild")]
    assert c2.human == [] and c3.human is None
    # the cases survive the cohort round trip
    path = layout / "cohort.jsonl"
    records.write_cohort(path, cases)
    assert [c.case_id for c in records.load_cohort(path)] == ["1", "2", "3"]


def test_load_cases_rejects_unknown_complication(layout):
    _write(
        layout / "data_source/center1/gold_standard.json", {"1": {"complications": [{"name": "贫血", "grading": "中"}]}}
    )
    with pytest.raises(records.CohortError, match=r"gold_standard\.json: case '1'.*'贫血' is not one of the 22"):
        repo.load_cases(layout, records_file=layout / "data_source/medical_record.json")


def test_load_cases_without_records_says_what_to_do(tmp_path):
    (tmp_path / "data_source").mkdir()
    with pytest.raises(FileNotFoundError, match="records_file="):
        repo.load_cases(tmp_path)


# --- the authors' public files (skipped when absent) ---------------------------------------------


def test_real_layout_shapes(pericomp_dir):
    assert len(repo.load_gold(pericomp_dir, "center1")) == 146
    assert len(repo.load_gold(pericomp_dir, "center2", strict=True)) == 52
    val = repo.validation_ids(pericomp_dir)
    assert len(val) == 46 and all(isinstance(i, str) for i in val)
    assert set(val) <= set(repo.load_gold(pericomp_dir, "center1"))
    files = repo.list_prediction_files(pericomp_dir, "center2")
    assert len(files) >= 70 and not any("gold" in p.name for p in files)


def test_real_gold_standard_matches_result_gold(pericomp_dir):
    """The published gold_standard.json cases give the same labels as results/center1/gold.json."""
    import warnings

    ds = pericomp_dir / "data_source"
    records_file = next(
        (p for p in (ds / "medical_record.json", ds / "medical_record_example.json") if p.exists()), None
    )
    if records_file is None:
        pytest.skip("no medical record file in this PeriComp copy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = repo.load_cases(pericomp_dir, records_file)
    gold = repo.load_gold(pericomp_dir, "center1")
    strict = repo.load_gold(pericomp_dir, "center1", strict=True)
    for c in cases:
        assert c.labels() == sorted(gold[c.case_id]) and c.strict_labels() == sorted(strict[c.case_id])
