"""The paper's evaluation tables: layout handling on an invented folder, and the published numbers."""

import json

import pandas as pd
import pytest

from pericomp_lib.cohort import pericomp_repo as repo
from pericomp_lib.core.predictions import PredictionFileError
from pericomp_lib.evaluation import cli as evaluate_cli
from pericomp_lib.evaluation import metrics, paper_tables

NONE = "无术后并发症"


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def layout(tmp_path):
    """A complete miniature layout: both centers, strict folders, a train/val split."""
    r = tmp_path / "results"
    gold1 = {"1": ["肺炎"], "2": [NONE], "3": ["谵妄", "感染"], "4": ["肺炎"]}
    gold2 = {"a": ["谵妄"], "b": [NONE]}
    for strict in (False, True):
        sub = r / "strict" if strict else r
        s = (lambda labels: [f"{x}_中" if x != NONE else f"{x}_Null" for x in labels]) if strict else (lambda x: x)
        _write(sub / "center1" / "gold.json", {k: s(v) for k, v in gold1.items()})
        _write(sub / "center2" / "gold.json", {k: s(v) for k, v in gold2.items()})
        _write(sub / "center1" / "zeta.json", {k: s(v) for k, v in gold1.items()})  # perfect
        _write(sub / "center1" / "Alpha.json", {"1": s(["肺炎"]), "2": s(["肺炎"]), "3": [], "4": s([NONE])})
        _write(sub / "center2" / "m.json", {"a": s(["谵妄"]), "b": s(["谵妄"])})
        _write(sub / "center2" / "short.json", {"a": s(["谵妄"])})  # lacks case b
    _write(tmp_path / "data_source" / "center1" / "train_val.json", {"train": [1, 3], "val": [4, 2]})
    return tmp_path


def test_evaluate_predictions_rows_sorted_by_name_and_unrounded():
    gold = {"1": ["A", "B"], "2": ["C"], "3": ["A"]}
    preds = {"b_model": {"1": ["A"], "2": ["C"], "3": ["A"]}, "A_model": {"1": ["A", "B"], "2": [], "3": ["X"]}}
    df = paper_tables.evaluate_predictions(gold, preds, "micro")
    assert list(df.columns) == ["Models", "Precision", "Recall", "F1_score"]
    assert df.Models.tolist() == ["A_model", "b_model"]  # Python string order, as the authors' sorted()
    a = df.iloc[0]
    assert (a.Precision, a.Recall) == (2 / 3, 2 / 4)
    assert a.F1_score == 2 * (2 / 3) * (2 / 4) / ((2 / 3) + (2 / 4))


def test_layout_tables_skip_and_report_incomplete_files(layout, tmp_path):
    out = tmp_path / "out"
    report = paper_tables.paper_tables(layout, out)
    assert sorted(p.name for p in out.glob("evaluation_*.csv")) == sorted(
        f"evaluation_{a}_{s.name}.csv" for a in ("micro", "macro") for s in paper_tables.PAPER_TABLES
    )
    assert len(list(out.glob("per_complication_*.csv"))) == 5
    assert {(s["table"], s["file"].rsplit("/", 1)[-1]) for s in report["skipped"]} == {
        ("center2", "short.json"),
        ("center2_strict", "short.json"),
    }
    c2 = pd.read_csv(out / "evaluation_micro_center2.csv")
    assert c2.Models.tolist() == ["m"]
    c1 = pd.read_csv(out / "evaluation_micro_center1.csv").set_index("Models")
    assert c1.index.tolist() == ["Alpha", "zeta"] and c1.loc["zeta"].F1_score == 1.0
    # Alpha on all 4 cases: tp 1 (case 1), fp 2, fn 4 -> P 1/3, R 1/5
    assert c1.loc["Alpha"].Precision == pytest.approx(1 / 3) and c1.loc["Alpha"].Recall == pytest.approx(1 / 5)
    # validation = cases 2 and 4 (gold order): Alpha predicts 肺炎 for 2 (gold none) and none for 4 (gold 肺炎)
    v = pd.read_csv(out / "evaluation_macro_val_center1.csv").set_index("Models")
    assert v.loc["Alpha"].tolist() == [0.0, 0.0, 0.0] and v.loc["zeta"].F1_score == 1.0
    pc = pd.read_csv(out / "per_complication_center1.csv")
    assert list(pc.columns) == ["Models", "label", "precision", "recall", "f1", "support", "predicted"]
    assert set(pc[pc.Models == "zeta"].label) == {"pneumonia", "none", "delirium", "infection_unknown_source"}


def test_layout_missing_empty_and_error(layout, tmp_path):
    with pytest.warns(UserWarning, match="1 of 2 cases missing"):
        report = paper_tables.paper_tables(layout, tmp_path / "o", missing="empty", per_label=False)
    assert report["filled"]["center2"] == {"short": 1} and not report["skipped"]
    c2 = pd.read_csv(tmp_path / "o" / "evaluation_micro_center2.csv").set_index("Models")
    assert c2.loc["short"].F1_score == 1.0  # case b filled with the none label, which gold has
    with pytest.raises(PredictionFileError, match=r"short\.json: lacks 1 of 2 cases \(b\)"):
        paper_tables.paper_tables(layout, tmp_path / "o2", missing="error")


def test_ci_table(layout):
    t = paper_tables.load_table(layout, "center1")
    df = paper_tables.ci_table(t.gold, t.predictions, n_boot=200)
    assert df.Models.tolist() == ["Alpha", "zeta"]
    z = df.set_index("Models").loc["zeta"]
    assert (z.F1_score_lo, z.F1_score, z.F1_score_hi) == (1.0, 1.0, 1.0)
    assert {"Precision_lo", "Recall_hi"} <= set(df.columns)


def test_cli(layout, tmp_path, capsys):
    assert evaluate_cli.cli(["--runs-dir", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "batch runner" in capsys.readouterr().err
    assert evaluate_cli.cli(["--pericomp-dir", str(layout), "--out", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert "skipped in center2" in out and (tmp_path / "cli" / "evaluation_macro_center2_strict.csv").exists()


def test_split_gold_is_the_one_validation_filter(layout):
    gold = repo.load_gold(layout, "center1")
    assert list(paper_tables.split_gold(gold, layout)) == ["2", "4"]  # train_val.json val [4, 2], in gold order
    assert paper_tables.split_gold(gold, layout) == paper_tables.load_table(layout, "val_center1").gold
    with pytest.raises(ValueError, match="validation split"):
        paper_tables.split_gold({"9": ["肺炎"]}, layout)


def test_unknown_table_name(layout):
    with pytest.raises(ValueError, match="unknown table 'center3'"):
        paper_tables.load_table(layout, "center3")


# --- the authors' public files: the published numbers, bit for bit --------------------------------


@pytest.fixture(scope="module")
def paper_out(pericomp_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("paper_tables")
    return out, paper_tables.paper_tables(pericomp_dir, out)


def test_ten_tables_with_every_prediction_file(pericomp_dir, paper_out):
    out, report = paper_out
    assert report["skipped"] == [] and report["filled"] == {}
    for spec in paper_tables.PAPER_TABLES:
        stems = [p.stem for p in repo.list_prediction_files(pericomp_dir, spec.center, spec.strict)]
        for average in metrics.AVERAGES:
            df = pd.read_csv(out / paper_tables.table_filename(average, spec.name))
            assert list(df.columns) == ["Models", "Precision", "Recall", "F1_score"]
            assert df.Models.tolist() == sorted(stems)
            assert df[["Precision", "Recall", "F1_score"]].notna().all().all()
        assert (out / f"per_complication_{spec.name}.csv").exists()


# (table, model) -> (Precision, Recall, F1_score) from the authors' published
# results/evaluation_dataframes/evaluation_*.csv (gscfwid/PeriComp)
PUBLISHED = {
    ("micro", "center2_strict", "gemini_2_5_flash_comprehensive_strict"): (
        0.7012987012987013,
        0.7297297297297297,
        0.7152317880794701,
    ),
    ("micro", "center2_strict", "human_strict"): (0.7666666666666667, 0.6216216216216216, 0.6865671641791045),
    ("micro", "center2", "qwen3_4B_targeted_sft_1"): (0.7575757575757576, 0.6756756756756757, 0.7142857142857142),
    ("micro", "val_center1", "ds_v3_comprehensive_nothink"): (
        0.10193321616871705,
        0.7837837837837838,
        0.18040435458786935,
    ),
    ("micro", "val_center1_strict", "qwen3_8B_targeted_sft_1_strict"): (
        0.5833333333333334,
        0.5675675675675675,
        0.5753424657534246,
    ),
    ("macro", "center2_strict", "qwq32B_comprehensive_modified_sft_1_strict"): (
        0.8076923076923077,
        0.7522435897435897,
        0.7712454212454213,
    ),
    ("macro", "center2", "qwen3_4B_comprehensive_4"): (0.14645979020979022, 0.21346153846153845, 0.16084225603456373),
    ("macro", "val_center1_strict", "qwen3_4B_targeted_sft_1_strict"): (
        0.46195652173913043,
        0.43623188405797103,
        0.43543823326432024,
    ),
}


@pytest.mark.parametrize("key", sorted(PUBLISHED), ids=lambda k: "-".join(k))
def test_published_values_reproduced_exactly(pericomp_dir, key):
    average, table, model = key
    t = paper_tables.load_table(pericomp_dir, table)
    row = paper_tables.evaluate_predictions(t.gold, {model: t.predictions[model]}, average).iloc[0]
    assert (row.Precision, row.Recall, row.F1_score) == PUBLISHED[key]


@pytest.mark.notebook
def test_notebook_05(pericomp_dir, run_notebook, tmp_path):
    out = tmp_path / "tables"
    run_notebook("05_evaluate.ipynb", pericomp_dir=str(pericomp_dir), output_dir=str(out), n_boot=200)
    assert len(list(out.glob("evaluation_*.csv"))) == 10
