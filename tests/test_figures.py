"""Figures 6A / 6b / 7: run-file selection, log parsing, tidy frames, paper values, written files."""
import json
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pericomp_lib import figures  # noqa: E402


def _write(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ no authors' files

def test_parse_result_name():
    assert figures.parse_result_name("qwen3_14B_targeted_sft_3") == {"model": "qwen3", "size": "14B", "strategy": "targeted_sft", "run": 3}
    assert figures.parse_result_name("qwen3_4B_targeted")["run"] is None
    assert figures.parse_result_name("qwen3_32B_comprehensive_modified") is None
    assert figures.parse_result_name("gemini_2_5_flash_comprehensive") is None


def test_select_runs_handles_irregular_names(tmp_path):
    a = {"1": ["肺炎"]}
    for name in ["qwen3_4B_targeted.json", "qwen3_4B_targeted_1.json", "qwen3_4B_targeted_2.json",
                 "qwen3_8B_targeted_sft.json", "qwen3_14B_targeted_6.json", "qwen3_14B_targeted_retrained_1.json",
                 "gold.json", "human.json"]:
        _write(tmp_path / name, a)
    _write(tmp_path / "qwen3_32B_comprehensive.json", {"1": ["感染"]})
    _write(tmp_path / "qwen3_32B_comprehensive_1.json", a)
    chosen, notes = figures.select_runs(tmp_path.glob("*.json"))
    assert chosen[("4B", "targeted", 1)].name == "qwen3_4B_targeted_1.json"  # numbered file wins
    assert chosen[("8B", "targeted_sft", 1)].name == "qwen3_8B_targeted_sft.json"  # unnumbered stands for run 1
    assert ("14B", "targeted", 6) not in chosen and not any(k[1] == "targeted_retrained" for k in chosen)
    assert chosen[("32B", "comprehensive", 1)].name == "qwen3_32B_comprehensive_1.json"
    text = "\n".join(notes)
    assert "qwen3_4B_targeted.json: unnumbered duplicate of qwen3_4B_targeted_1.json" in text
    assert "CONTENT DIFFERS" in text and "run 6 outside" in text and "targeted_retrained" in text
    assert len(chosen) == 4


def test_read_train_log_both_formats(tmp_path):
    swift = tmp_path / "qwen4B_train_log.jsonl"
    swift.write_text("\n".join([
        json.dumps({"loss": 2.0, "epoch": 0.1, "learning_rate": 1e-4, "global_step/max_steps": "1/3"}),
        "{not json",
        json.dumps({"loss": 1.0, "epoch": 0.2, "learning_rate": 1e-4, "global_step/max_steps": "2/3"}),
        json.dumps({"train_runtime": 5.0, "train_loss": 1.5, "global_step/max_steps": "3/3"}),
    ]) + "\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="1 unreadable line"):
        f = figures.read_train_log(swift)
    assert f["step"].tolist() == [1, 2] and f["loss"].tolist() == [2.0, 1.0]
    assert f.attrs["other_lines"] == 1 and len(f.attrs["bad_lines"]) == 1 and ":2:" in f.attrs["bad_lines"][0]

    ours = tmp_path / "train_log.jsonl"
    ours.write_text("".join(json.dumps({"step": s, "epoch": s / 4, "loss": 3.0 / s, "learning_rate": 2e-4}) + "\n"
                            for s in range(1, 5)), encoding="utf-8")
    g = figures.read_train_log(ours)
    assert g["step"].tolist() == [1, 2, 3, 4] and g["epoch"].iloc[-1] == 1.0

    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"train_runtime": 1}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no training-loss rows"):
        figures.read_train_log(empty)


def test_smooth_is_debiased_ema():
    s = figures.smooth([1.0, 1.0, 1.0], 0.9)
    assert s.tolist() == pytest.approx([1.0, 1.0, 1.0])  # no pull towards 0 at the start
    s = figures.smooth([0.0, 10.0], 0.5)
    assert s.iloc[1] == pytest.approx((0.5 * 0 + 1 * 10) / 1.5)
    with pytest.raises(ValueError):
        figures.smooth([1.0], 1.0)


def test_size_key_orders_sizes():
    assert sorted(["32B", "4B", "135M", "14B", "8B"], key=figures.size_key) == ["135M", "4B", "8B", "14B", "32B"]


def _synthetic_runs():
    rows = [{"size": size, "strategy": st, "run": run, "center": c, "metric": m, "value": 0.1 * i + 0.01 * run}
            for c in ("center1", "center2") for m in figures.METRICS
            for i, st in enumerate(["baseline", "targeted_sft"], 1) for size in ("135M", "360M") for run in (1, 2, 3)]
    return pd.DataFrame(rows)


def test_plots_write_png_and_pdf(tmp_path):
    runs = _synthetic_runs()
    human = pd.DataFrame([{"center": c, "metric": m, "value": 0.5} for c in ("center1", "center2") for m in figures.METRICS])
    strict = pd.DataFrame([{"label": lab, "group": g, "center": c, "metric": m, "value": v}
                           for c in ("center1", "center2") for m in figures.METRICS
                           for lab, g, v in (("Ours", "PeriComp (LoRA)", 0.6), ("TF-IDF", "Classical baseline", 0.05),
                                             ("Human", "Human", 0.7))])
    loss = figures.loss_frame({"135M": _loss_log(tmp_path / "a.jsonl"), "360M": _loss_log(tmp_path / "b.jsonl")})
    figs = {"f1": figures.plot_f1_boxes(runs, human), "strict": figures.plot_strict_bars(strict),
            "loss": figures.plot_loss_curves(loss, x="step", title_prefix="")}
    for stem, fig in figs.items():
        paths = figures.save_figure(fig, tmp_path / "out", stem)
        plt.close(fig)
        assert [p.suffix for p in paths] == [".png", ".pdf"]
        assert all(p.stat().st_size > 1000 for p in paths)
        assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:5] == b"%PDF-"
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic: no temp files left behind


def _loss_log(path):
    path.write_text("".join(json.dumps({"step": s, "epoch": s / 10, "loss": 2.0 / s}) + "\n" for s in range(1, 21)),
                    encoding="utf-8")
    return path


def test_plot_rejects_bad_frames():
    with pytest.raises(ValueError, match="lacks column"):
        figures.plot_f1_boxes(pd.DataFrame({"center": [], "value": []}))
    with pytest.raises(ValueError, match="empty"):
        figures.plot_strict_bars(pd.DataFrame(columns=["label", "group", "center", "metric", "value"]))


def test_runs_loss_figure_finds_our_logs(tmp_path):
    for name in ("smollm2-135m_1", "smollm2-135m_2"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        _loss_log(tmp_path / "runs" / name / "train_log.jsonl")
    fig, frame = figures.runs_loss_figure(tmp_path / "runs", tmp_path / "figs")
    plt.close(fig)
    assert sorted(frame["label"].unique()) == ["smollm2-135m_1", "smollm2-135m_2"]
    assert (tmp_path / "figs" / "runs_loss.png").stat().st_size > 0
    with pytest.raises(FileNotFoundError, match="no train_log.jsonl"):
        figures.runs_loss_figure(tmp_path / "figs")


# --------------------------------------------------------------------------------- authors' files

@pytest.fixture(scope="module")
def lenient(pericomp_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every published run file must score without a problem
        return figures.lenient_frame(pericomp_dir)


def test_figure6b_frame_has_every_run(lenient):
    assert len(lenient) == 5 * 4 * 3 * 2 * 3  # runs x sizes x strategies x centers x metrics
    counts = lenient.groupby(["center", "strategy", "size", "metric"])["run"].nunique()
    assert len(counts) == 2 * 3 * 4 * 3 and (counts == 5).all()
    assert lenient.attrs["skipped"] == []
    notes = "\n".join(lenient.attrs["notes"])
    assert "center1/qwen3_4B_targeted.json: unnumbered duplicate of qwen3_4B_targeted_1.json" in notes
    assert "center2/qwen3_14B_targeted_6.json" in notes


def test_figure6b_values_match_published_tables(lenient, pericomp_dir):
    """Spot values from the authors' evaluation_micro_val_center1.csv / evaluation_micro_center2.csv."""
    def value(center, size, strategy, run, metric="f1"):
        row = lenient[(lenient.center == center) & (lenient["size"] == size) & (lenient.strategy == strategy)
                      & (lenient.run == run) & (lenient.metric == metric)]
        return float(row["value"].iloc[0])
    assert value("center1", "4B", "targeted", 1) == pytest.approx(0.4631, abs=5e-5)
    assert value("center1", "32B", "targeted_sft", 4) == pytest.approx(0.7194, abs=5e-5)
    assert value("center2", "8B", "targeted_sft", 2) == pytest.approx(0.7895, abs=5e-5)
    human = figures.human_frame(pericomp_dir).set_index(["center", "metric"])["value"]
    assert human[("center1", "f1")] == pytest.approx(0.5263, abs=5e-5)  # validation cases only
    assert human[("center1", "precision")] == pytest.approx(0.5932, abs=5e-5)


def test_figure7_matches_paper(pericomp_dir):
    frame = figures.strict_frame(pericomp_dir)
    f1 = frame[frame.metric == "f1"].set_index(["center", "label"])["value"]
    assert round(f1[("center2", "Gemini 2.5 Flash")], 3) == 0.715
    assert round(f1[("center2", "Human annotator")], 3) == 0.687
    assert round(f1[("center1", "Gemini 2.5 Flash")], 3) == 0.631  # center 1: validation cases
    assert set(frame["group"]) == {"PeriComp (LoRA)", "Commercial", "Human"}
    assert frame.groupby("center").size().to_dict() == {"center1": 30, "center2": 30}


def test_figure6a_reads_published_logs(pericomp_dir):
    logs = figures.published_train_logs(pericomp_dir)
    assert list(logs) == ["4B", "8B", "14B", "32B"]
    frame = figures.loss_frame(logs)
    assert (frame.groupby("label")["step"].max() == 1370).all()
    assert frame.groupby("label")["smoothed"].last().max() < 0.1  # converged


@pytest.mark.notebook
def test_notebook_06_runs(pericomp_dir, run_notebook, tmp_path):
    out = tmp_path / "figs"
    executed = run_notebook("06_figures.ipynb", pericomp_dir=str(pericomp_dir), figures_dir=str(out))
    for stem in ("figure6a_loss", "figure6b_f1", "figure7_strict"):
        for ext in ("png", "pdf"):
            assert (out / f"{stem}.{ext}").stat().st_size > 10_000
    nb = json.loads(executed.read_text(encoding="utf-8"))
    text = json.dumps([c.get("outputs", []) for c in nb["cells"]])
    assert "image/png" in text  # figures shown inline
    assert "0.715" in text and "0.687" in text
