"""A user's JSONL / CSV cohort becomes Cases; every error names file, row and column."""

import csv

import pytest

from pericomp_lib.cohort.user_files import load_csv, load_jsonl, parse_labels
from pericomp_lib.core.records import Case, CohortError, GoldLabel, write_cohort

HEADER = ["case_id", "record", "labels", "split", "center", "language"]


def _csv(path, rows, header=HEADER):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_jsonl_round_trip(tmp_path):
    cases = [
        Case("a", "c1", "train", "zh", "术后肌酐升高", [GoldLabel("acute_kidney_injury", "moderate", ["肌酐升高"])]),
        Case("b", "c1", "test", "en", "uneventful", []),
    ]
    path = write_cohort(tmp_path / "cohort.jsonl", cases)
    assert load_jsonl(path) == cases


def test_csv_labels_in_every_spelling(tmp_path):
    path = _csv(
        tmp_path / "c.csv",
        [
            ["1", "记录一,\n含逗号和换行", "急性肾损伤:中;肺炎：轻", "train", "h1", "zh"],
            ["2", "record two", "acute_kidney_injury:moderate; pneumonia", "test", "h1", "en"],
            ["3", "record three", "", "validation", "h1", "en"],
            ["4", "record four", "无术后并发症", "validation", "h1", "en"],
            ["5", "record five", "感染（来源不明）:重度", "train", "h1", "zh"],
        ],
    )
    cases = load_csv(path)
    assert [c.case_id for c in cases] == ["1", "2", "3", "4", "5"]
    assert cases[0].record == "记录一,\n含逗号和换行"
    assert cases[0].strict_labels() == ["急性肾损伤_中", "肺炎_轻"]
    assert [(g.complication, g.grade) for g in cases[1].gold] == [
        ("acute_kidney_injury", "moderate"),
        ("pneumonia", "none"),
    ]
    assert cases[2].gold == [] and cases[3].labels() == ["无术后并发症"]
    assert cases[4].strict_labels() == ["感染_重"]


def test_csv_defaults_bom_and_extra_columns(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("\ufeffcase_id,record,labels,surgery\nx,some text,谵妄,胃癌根治术\n", encoding="utf-8")
    (case,) = load_csv(path, split="test", center="mine", language="zh")
    assert (case.split, case.center, case.language, case.meta) == ("test", "mine", "zh", {"surgery": "胃癌根治术"})


@pytest.mark.parametrize(
    "rows,header,kwargs,fragment",
    [
        (
            [["1", "r", "肺癌:中", "train", "h", "zh"]],
            HEADER,
            {},
            "row 2, column 'labels': unknown complication '肺癌'",
        ),
        ([["1", "r", "肺炎:很重", "train", "h", "zh"]], HEADER, {}, "row 2, column 'labels': 肺炎: invalid grade"),
        ([["1", "r", "", "training", "h", "zh"]], HEADER, {}, "row 2, column 'split'"),
        ([["1", "", "", "train", "h", "zh"]], HEADER, {}, "row 2, column 'record'"),
        (
            [["1", "r", "", "train", "h", "zh"], ["1", "r2", "", "test", "h", "zh"]],
            HEADER,
            {},
            "row 3, column 'case_id': duplicate",
        ),
        ([["1", "r", "", "train", "", "zh"]], HEADER, {}, "row 2, column 'center': empty"),
        ([["1", "r"]], ["case_id", "record"], {}, "missing column(s) split, center, language"),
        (
            [["1", "r", ""]],
            ["case_id", "labels", "split"],
            {"center": "h", "language": "en"},
            "missing column(s) record",
        ),
    ],
)
def test_csv_errors_name_file_row_column(tmp_path, rows, header, kwargs, fragment):
    path = _csv(tmp_path / "bad.csv", rows, header)
    with pytest.raises(CohortError) as e:
        load_csv(path, **kwargs)
    assert str(path) in str(e.value) and fragment in str(e.value)


def test_csv_missing_and_empty(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_csv(tmp_path / "none.csv")
    with pytest.raises(CohortError, match="no cases"):
        load_csv(_csv(tmp_path / "empty.csv", []))
    assert parse_labels(" ; ", "x") == []
