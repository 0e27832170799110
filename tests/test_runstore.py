"""raw.jsonl survives a kill at any point; exports turn bad output into counted parse failures."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from pericomp_lib.cohort import build
from pericomp_lib.core import params, records, taxonomy
from pericomp_lib.evaluation import run_scores
from pericomp_lib.inference import run_outputs, runner, runstore
from pericomp_lib.llm import models


def _row(i, text="{}"):
    return {
        "case_id": f"c{i}",
        "item": "pneumonia",
        "model": "base",
        "prompt_hash": f"h{i}",
        "text": text,
        "n_tokens": 3,
        "seconds": 0.1,
        "batch": 1,
    }


def test_append_get_and_hash_mismatch(tmp_path):
    store = runstore.RunStore(tmp_path / "raw.jsonl")
    store.append(_row(1, '{"bool": true}'))
    again = runstore.RunStore(tmp_path / "raw.jsonl")
    assert again.get("c1", "pneumonia", "base", "h1")["text"] == '{"bool": true}'
    assert again.get("c1", "pneumonia", "base", "other") is None  # prompt or settings changed: redo
    assert again.get("c1", "pneumonia", "adapter", "h1") is None
    assert runstore.prompt_hash({"m": 1}, "a", "b") != runstore.prompt_hash({"m": 1}, "ab", "")


def test_cut_last_line_and_broken_line_are_reported_and_dropped(tmp_path, caplog):
    path = tmp_path / "raw.jsonl"
    store = runstore.RunStore(path)
    for i in range(4):
        store.append(_row(i))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = "{not json\n"
    path.write_text("".join(lines) + lines[3][:17], encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="pericomp_lib.inference.runstore"):
        again = runstore.RunStore(path)
    messages = [r.getMessage() for r in caplog.records if r.name == "pericomp_lib.inference.runstore"]
    assert len(messages) == 2 and "cut off" in messages[1] and ":2:" in messages[0]
    assert set(k[0] for k in again.rows) == {"c0", "c2", "c3"}
    assert path.read_text(encoding="utf-8").endswith("\n") and again.n_lines == 3
    again.append(_row(9))  # appends after the repair land on their own line
    assert len(runstore.RunStore(path).rows) == 4


# ----------------------------------------------------------------------------------- resumption
@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    cases = records.split_cases(build.make_cohort("synthetic", n_cases=6, out_dir=out), "eval")[:2]
    p = params.load_params(
        models_root() / "params" / "tiny-random.yaml",
        max_new_tokens=6,
        inference_batch_size=3,
        complications=["pneumonia", "delirium", "stroke", "ards"],
    )
    model, tok = models.load_model(p)
    return cases, p, model, tok


def models_root():
    from conftest import ROOT

    return ROOT


def _infer(setup, out, **kw):
    cases, p, model, tok = setup
    answers, summary = runner.infer({**p, **kw}, cases, out, model=model, tokenizer=tok, progress=False)
    run_outputs.write_predictions(out, answers, p["strategy"])
    preds = {
        f: json.loads((out / f / "base.json").read_text(encoding="utf-8"))
        for f in ("predictions", "predictions_strict")
    }
    return answers, summary, preds


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["shared_prefix", "paper"])
def test_resume_after_cuts_gives_same_predictions(setup, tmp_path, layout):
    full_dir = tmp_path / "full"
    answers, summary, preds = _infer(setup, full_dir, prompt_layout=layout)
    assert summary.generated == 8 and summary.failed == 0
    lines = (full_dir / "raw.jsonl").read_bytes().splitlines(keepends=True)
    for k, cut in [(0, 5), (3, 0), (3, 11), (5, len(lines[5]) - 1), (7, 0)]:
        d = tmp_path / f"cut-{k}-{cut}"
        d.mkdir()
        (d / "raw.jsonl").write_bytes(b"".join(lines[:k]) + lines[k][:cut])
        a2, s2, p2 = _infer(setup, d, prompt_layout=layout)
        assert s2.generated == 8 - k and s2.skipped == k, (k, cut)
        assert a2 == answers and p2 == preds


def test_killed_mid_run_resumes(setup, tmp_path, monkeypatch):
    _, _, ref = _infer(setup, tmp_path / "ref")
    out = tmp_path / "killed"
    real = runstore.RunStore.append
    calls = {"n": 0}

    def dying(self, row):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("killed")
        real(self, row)

    monkeypatch.setattr(runstore.RunStore, "append", dying)
    with pytest.raises(KeyboardInterrupt):
        _infer(setup, out)
    monkeypatch.setattr(runstore.RunStore, "append", real)
    assert len((out / "raw.jsonl").read_text(encoding="utf-8").splitlines()) == 4
    _, summary, preds = _infer(setup, out)
    assert summary.generated == 4 and preds == ref


def test_comprehensive_run(setup, tmp_path):
    answers, summary, preds = _infer(setup, tmp_path, strategy="comprehensive", max_new_tokens=4)
    assert summary.generated == 2 and set(answers["base"]) == set(preds["predictions"])
    assert all(list(v) == ["comprehensive"] for v in answers["base"].values())
    _, again, _ = _infer(setup, tmp_path, strategy="comprehensive", max_new_tokens=4)
    assert again.generated == 0 and again.skipped == 2


def test_changed_settings_regenerate(setup, tmp_path):
    _infer(setup, tmp_path)
    _, summary, _ = _infer(setup, tmp_path, max_new_tokens=5)
    assert summary.generated == 8 and summary.skipped == 0


# ---------------------------------------------------------------------------------------- exports
BAD = {
    "pneumonia": '{"think": "fever, infiltrate", "bool": true, "grading": "中"}',
    "delirium": "",
    "stroke": "I cannot answer that.",
    "ards": '```json\n{"bool": true}\n```\n```json\n{"bool": false}\n```',
    "arrhythmia": '{"think": 3, "bool": [1], "grading": 7}',
    "acute_kidney_injury": '{"think": "creatinine", "bool": "True", "grading": "重"}',
}


def _case():
    return records.case_from_dict(
        {
            "case_id": "k1",
            "center": "x",
            "split": "validation",
            "language": "en",
            "record": "r",
            "gold": [{"complication": "pneumonia", "grade": "moderate"}, {"complication": "stroke", "grade": "severe"}],
        }
    )


def test_exports_parse_back_and_count_failures(tmp_path):
    case = _case()
    answers = {"base": {"k1": BAD}, "adapter": {"k1": {k: '{"bool": false, "grading": "Null"}' for k in BAD}}}
    reports = run_outputs.write_predictions(tmp_path, answers, "targeted")
    lenient = json.loads((tmp_path / "predictions" / "base.json").read_text(encoding="utf-8"))
    strict = json.loads((tmp_path / "predictions_strict" / "base.json").read_text(encoding="utf-8"))
    assert sorted(lenient["k1"]) == ["急性肾损伤", "肺炎"]
    assert sorted(strict["k1"]) == ["急性肾损伤_重", "肺炎_中"]
    assert json.loads((tmp_path / "predictions" / "adapter.json").read_text(encoding="utf-8")) == {
        "k1": ["无术后并发症"]
    }
    failed = {f.complication for f in reports["base"]["lenient"].failures}
    assert {"delirium", "stroke", "ards", "arrhythmia"} <= failed and "pneumonia" not in failed
    report = json.loads((tmp_path / "parse_report.json").read_text(encoding="utf-8"))
    assert report["base"]["lenient"]["n_failures"] == len(reports["base"]["lenient"].failures)

    df = run_outputs.write_side_by_side(tmp_path, [case], answers, "targeted")
    back = pd.read_csv(tmp_path / "side_by_side.csv", keep_default_na=False)
    assert len(back) == len(df) == len(BAD)
    row = df.set_index("complication")
    assert row.loc["pneumonia", "base_right_strict"] and not row.loc["pneumonia", "adapter_right"]
    assert row.loc["stroke", "base_text"] == "I cannot answer that." and row.loc["stroke", "base_error"]
    assert not row.loc["stroke", "base_right"] and row.loc["delirium", "base_right"]
    assert not row.loc["acute_kidney_injury", "base_right"]  # said yes, gold no
    dis = run_outputs.disagreements(df)
    assert set(dis["complication"]) == {"pneumonia", "acute_kidney_injury"}
    m = run_scores.metrics_table(tmp_path, [case]).set_index(["model", "mode", "average"])
    assert m.loc[("base", "lenient", "micro"), "precision"] == pytest.approx(0.5)
    assert m.loc[("adapter", "lenient", "micro"), "f1"] == 0.0


def test_side_by_side_is_right_as_scored_after_the_paper_infection_rule(tmp_path):
    # 感染 (source unknown) beside pneumonia is dropped by the paper's rule: the row shows the answer's own
    # decision (present), the one the scores count (scored) and is right by the latter
    yes = '{"think": "fever", "bool": "True", "grading": "中"}'
    answers = {"adapter": {"k1": {"pneumonia": yes, "infection_unknown_source": yes}}}
    df = run_outputs.side_by_side([_case()], answers, "targeted").set_index("complication")
    infection = df.loc["infection_unknown_source"]
    assert infection["adapter_present"] and not infection["adapter_scored"] and infection["adapter_right"]
    assert df.loc["pneumonia", "adapter_scored"] and df.loc["pneumonia", "adapter_right_strict"]
    run_outputs.write_predictions(tmp_path, answers, "targeted")
    scored = json.loads((tmp_path / "predictions" / "adapter.json").read_text(encoding="utf-8"))["k1"]
    assert set(scored) == {taxonomy.zh_short(c) for c in df.index[df["adapter_scored"]]}


def test_comprehensive_exports(tmp_path):
    case = _case()
    text = '{"think": ["x"], "complications": [{"name": "肺炎", "grading": "中"}, {"name": "贫血", "grading": "轻"}]}'
    answers = {"base": {"k1": {"comprehensive": text}}}
    reports = run_outputs.write_predictions(tmp_path, answers, "comprehensive")
    assert json.loads((tmp_path / "predictions_strict" / "base.json").read_text(encoding="utf-8")) == {
        "k1": ["肺炎_中", "贫血_轻"]
    }
    assert reports["base"]["lenient"].unknown_names["贫血"] == 1
    df = run_outputs.side_by_side([case], answers, "comprehensive").set_index("complication")
    assert len(df) == 22 and df.loc["pneumonia", "base_right_strict"] and not df.loc["stroke", "base_right"]
