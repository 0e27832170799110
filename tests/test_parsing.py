"""Raw model outputs -> result files with the authors' rules; failures recorded, never raised."""

import json

import pytest

from pericomp_lib.__main__ import main
from pericomp_lib.inference import labels
from pericomp_lib.inference.labels import comprehensive_to_labels, targeted_to_labels
from pericomp_lib.inference.parsing import ComprehensiveAnswer, parse_comprehensive, parse_targeted
from pericomp_lib.inference.result_files import format_results


def _t(present, grading="Null", extra=""):
    return json.dumps({"think": "x", "bool": present, "grading": grading}, ensure_ascii=False) + extra


# ------------------------------------------------------------------ parse_targeted


def test_targeted_plain_fenced_and_think_block():
    a = parse_targeted(_t("True", "中"))
    assert (a.present, a.grade, a.error, a.think) == (True, "moderate", None, "x")
    fenced = "Here is my answer:\n```json\n" + _t(False) + "\n```\nthanks"
    assert parse_targeted(fenced).present is False
    thought = '<think>\nIs there {anything}? I think "bool": true\n</think>\n' + _t("是", "轻")
    a = parse_targeted(thought)
    assert (a.present, a.grade, a.error) == (True, "mild", None)


@pytest.mark.parametrize(
    "value,expected",
    [("True", True), (True, True), ("true", True), ("是", True), ("False", False), (False, False), ("否", False)],
)
def test_targeted_bool_spellings(value, expected):
    assert parse_targeted(_t(value)).present is expected


def test_targeted_tolerant_json():
    raw_newline = '{"think": "line one\nline two", "bool": "True", "grading": "重"}'
    single = "{'think': 'it's fine', 'bool': 'True', 'grading': '轻',}"
    inner_quotes = '{"think": "记录写"无发热"，故否定", "bool": "False", "grading": "Null"}'
    python_lits = '{"think": "", "bool": True, "grading": None}'
    for text, present in ((raw_newline, True), (single, True), (inner_quotes, False), (python_lits, True)):
        a = parse_targeted(text)
        assert a.error is None and a.present is present, (text, a)
    assert parse_targeted(raw_newline).think == "line one\nline two"
    assert parse_targeted(inner_quotes).think == '记录写"无发热"，故否定'


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("", "empty"),
        ("The patient had no complication.", "no JSON"),
        ('{"think": "long reasoning that was cut', "not closed"),
        ("```json\n" + _t("True") + "\n```\n```json\n" + _t("False") + "\n```", "2 ```json"),
        (_t("True") + "\nor maybe\n" + _t("False"), "more than one JSON object"),
        ('["True"]', "expected an object"),
        ('{"think": "x", "bool": ["True"], "grading": "轻"}', "expected True or False"),
        ('{"think": "x", "grading": "轻"}', 'no "bool"'),
        ('{"bool": "maybe", "grading": "轻"}', "expected True or False"),
        ("<think>still thinking when the budget ran out", "truncated"),
    ],
)
def test_targeted_failures_are_recorded_not_raised(text, fragment):
    a = parse_targeted(text)
    assert a.present is None and fragment in a.error and a.raw == text


def test_targeted_bad_grade_keeps_presence_and_reports():
    a = parse_targeted(_t("True", "很重"))
    assert a.present is True and a.grade is None and "很重" in a.error
    assert targeted_to_labels({"肺炎": a}, strict=True) == ["肺炎_很重"]


# ------------------------------------------------------------------ rules


def test_targeted_rules_empty_infection_other():
    no = parse_targeted(_t("False"))
    assert targeted_to_labels({"肺炎": no, "谵妄": no}, strict=False) == ["无术后并发症"]
    assert targeted_to_labels({"肺炎": no}, strict=True) == ["无术后并发症_Null"]
    yes = parse_targeted(_t("True", "中"))
    answers = {"感染（来源不明）": yes, "泌尿道感染": yes, "术后出血": yes}
    assert targeted_to_labels(answers, strict=False) == ["泌尿道感染", "术后出血"]
    assert targeted_to_labels({"感染（来源不明）": yes, "pneumonia": yes}, strict=True) == ["肺炎_中"]
    assert targeted_to_labels({"感染（来源不明）": yes, "术后出血": yes}, strict=False) == ["感染", "术后出血"]
    # names containing 其他 ("other") are dropped in strict mode only
    assert targeted_to_labels({"其他并发症": yes, "术后出血": yes}, strict=True) == ["术后出血_中"]
    assert targeted_to_labels({"其他并发症": yes}, strict=False) == ["其他并发症"]


def test_comprehensive_names_grades_and_unknown():
    text = json.dumps(
        {
            "think": ["a", "b"],
            "complications": [
                {"name": "感染（来源不明）", "grading": "中"},
                {"name": "急性呼吸窘迫综合征 (ARDS)", "grading": "重度"},
                {"name": "胸腔积液（少量）", "grading": "轻"},
                {"name": "器官/腔隙手术部位感染", "grading": "中"},
                {"name": "肺炎", "grading": "中"},
                "garbage",
            ],
        },
        ensure_ascii=False,
    )
    a = parse_comprehensive(text)
    assert a.items[:3] == [("infection_unknown_source", "moderate"), ("ards", "severe"), ("胸腔积液（少量）", "mild")]
    assert "complications[5]" in a.error and a.think == "a\nb"
    assert comprehensive_to_labels(a, strict=False) == [
        "急性呼吸窘迫综合征",
        "胸腔积液",
        "器官/腔隙手术部位感染",
        "肺炎",
    ]
    assert comprehensive_to_labels(a, strict=False, rules=False)[0] == "感染"
    assert comprehensive_to_labels(a, strict=True)[:2] == ["急性呼吸窘迫综合征_重", "胸腔积液_轻"]
    empty = parse_comprehensive('{"think": "none", "complications": []}')
    assert empty.error is None and comprehensive_to_labels(empty, strict=False) == ["无术后并发症"]
    assert comprehensive_to_labels(empty, strict=False, rules=False) == []


@pytest.mark.parametrize("text", ["", "no json here", '{"complications": "肺炎"}', '{"answer": []}', "[1, 2]"])
def test_comprehensive_failures(text):
    a = parse_comprehensive(text)
    assert isinstance(a, ComprehensiveAnswer) and a.items == [] and a.error


# ------------------------------------------------------------------ whole files and the CLI


def test_format_results_report_counts_failures():
    raw = {
        "a": {"急性肾损伤": {"content": _t("True", "轻")}, "肺炎": {"content": '{"think": "cut'}, "谵妄": _t("False")},
        "b": {"急性肾损伤": {"content": ""}, "肺炎": {"content": _t("False")}},
        "c": "not a mapping",
    }
    results, report = format_results(raw, "targeted", strict=True)
    assert results == {"a": ["急性肾损伤_轻"], "b": ["无术后并发症_Null"], "c": ["无术后并发症_Null"]}
    assert report.n_cases == 3 and report.n_answers == 5 and len(report.failures) == 3
    assert report.by_case() == {"a": 1, "b": 1, "c": 1}
    assert report.by_complication()["肺炎"] == 1
    assert report.failures[0].text == '{"think": "cut'
    assert "3 failures" in report.summary()
    comp, rep = format_results(
        {"x": {"content": '{"complications": [{"name": "贫血", "grading": "轻"}]}'}}, "comprehensive", strict=False
    )
    assert comp == {"x": ["贫血"]} and rep.unknown_names == {"贫血": 1} and "贫血" in rep.failures[0].error
    with pytest.raises(ValueError, match="strategy"):
        format_results({}, "both", strict=False)


def test_authors_exact_rules_only_for_targeted():
    raw = {"1": {"content": {"complications": []}}}
    assert format_results(raw, "comprehensive", False, rules=None)[0] == {"1": []}
    assert format_results(raw, "comprehensive", False, rules=True)[0] == {"1": ["无术后并发症"]}


def test_cli_writes_results_and_report(tmp_path, capsys):
    raw = tmp_path / "m_targeted.json"
    raw.write_text(
        json.dumps({"1": {"肺栓塞": {"content": _t("True", "轻")}, "谵妄": {"content": "oops"}}}, ensure_ascii=False),
        encoding="utf-8",
    )
    out, rep = tmp_path / "o.json", tmp_path / "r.json"
    assert main(["format-results", str(raw), "--strict", "-o", str(out), "--report", str(rep)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == {"1": ["肺栓塞_轻"]}
    assert json.loads(rep.read_text(encoding="utf-8"))["by_complication"] == {"谵妄": 1}
    assert "1 failures" in capsys.readouterr().out
    assert main(["format-results", str(tmp_path / "missing.json"), "-o", str(out)]) == 2


# ------------------------------------------------------------------ the authors' raw fixtures (case 1)

COMPREHENSIVE = [
    ("o1_comprehensive", "o1_comprehensive"),
    ("gemini2_5_flash_comprehensive", "gemini_2_5_flash_comprehensive"),
    ("claude3_7_comprehensive", "claude3_7_comprehensive"),
]


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("raw_name,published", COMPREHENSIVE)
def test_published_comprehensive_case1_reproduced(pericomp_dir, raw_name, published):
    raw = _load(pericomp_dir / "results" / "raw" / f"{raw_name}.json")
    expected = _load(pericomp_dir / "results" / "center1" / f"{published}.json")["1"]
    results, report = format_results(raw, "comprehensive", strict=False, rules=None)
    assert results["1"] == expected and not report.failures
    strict, _ = format_results(raw, "comprehensive", strict=True, rules=None)
    assert [s.rsplit("_", 1)[0] for s in strict["1"]] == expected
    assert all(s.rsplit("_", 1)[1] in {"轻", "中", "重", "Null"} for s in strict["1"])


def test_published_targeted_case1_explained(pericomp_dir):
    """The public ds-R1 raw file cannot reproduce the published row exactly; every difference is explained.

    11 of its 22 answers are truncated mid-JSON (counted as failures, so absent); of the 11 complete
    answers only 肺栓塞 is True. The published row also holds 吻合口破裂, 感染, 麻痹性肠梗阻 and 术后出血,
    all among the truncated answers, and 深静脉血栓, whose complete public answer says "bool": "False":
    that raw file is not the run that produced the published row (its record dates differ from the
    other raw files'), so 深静脉血栓 is the one label no parser could recover from it.
    """
    raw = _load(pericomp_dir / "results" / "raw" / "deepseek_r1_targeted.json")
    published = set(_load(pericomp_dir / "results" / "center1" / "ds_r1_targeted.json")["1"])
    results, report = format_results(raw, "targeted", strict=False, rules=None)
    truncated = {labels.result_name(f.complication) for f in report.failures}
    assert len(report.failures) == 11 and all("not closed" in f.error for f in report.failures)
    assert results["1"] == ["肺栓塞"] and set(results["1"]) <= published
    unexplained = published - set(results["1"]) - truncated
    assert unexplained == {"深静脉血栓"}
    assert parse_targeted(raw["1"]["深静脉血栓"]["content"]).present is False


def test_random_junk_never_raises():
    import random

    rng = random.Random(0)
    alphabet = list("{}[]\"':,\\\n `<>/thinkjsonboolTrueFalse是否轻中重Null感染") + ["```json", "<think>", "</think>"]
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        t, c = parse_targeted(text), parse_comprehensive(text)
        assert t.present is not None or t.error  # an unreadable answer always says why
        assert t.raw == text and c.raw == text
        assert isinstance(c.items, list) and (c.error is None or isinstance(c.error, str))
