"""Figures 6A / 6b / 7: run-file selection (published_scores), log parsing (train_logs), tidy frames of our
runs (evaluation, provenance), paper values, written files (figures)."""

import json
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pericomp_lib.evaluation import published_scores, run_scores
from pericomp_lib.figures import figure_style, paper_figures, run_figures
from pericomp_lib.llm import model_names
from pericomp_lib.training import train_logs


def _write(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ no authors' files


def test_parse_result_name():
    assert published_scores.parse_result_name("qwen3_14B_targeted_sft_3") == {
        "model": "qwen3",
        "size": "14B",
        "strategy": "targeted_sft",
        "run": 3,
    }
    assert published_scores.parse_result_name("qwen3_4B_targeted")["run"] is None
    assert published_scores.parse_result_name("qwen3_32B_comprehensive_modified") is None
    assert published_scores.parse_result_name("gemini_2_5_flash_comprehensive") is None


def test_select_runs_handles_irregular_names(tmp_path):
    a = {"1": ["肺炎"]}
    for name in [
        "qwen3_4B_targeted.json",
        "qwen3_4B_targeted_1.json",
        "qwen3_4B_targeted_2.json",
        "qwen3_8B_targeted_sft.json",
        "qwen3_14B_targeted_6.json",
        "qwen3_14B_targeted_retrained_1.json",
        "gold.json",
        "human.json",
    ]:
        _write(tmp_path / name, a)
    _write(tmp_path / "qwen3_32B_comprehensive.json", {"1": ["感染"]})
    _write(tmp_path / "qwen3_32B_comprehensive_1.json", a)
    chosen, notes = published_scores.select_runs(tmp_path.glob("*.json"))
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
    swift.write_text(
        "\n".join(
            [
                json.dumps({"loss": 2.0, "epoch": 0.1, "learning_rate": 1e-4, "global_step/max_steps": "1/3"}),
                "{not json",
                json.dumps({"loss": 1.0, "epoch": 0.2, "learning_rate": 1e-4, "global_step/max_steps": "2/3"}),
                json.dumps({"train_runtime": 5.0, "train_loss": 1.5, "global_step/max_steps": "3/3"}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    with pytest.warns(UserWarning, match="1 unreadable line"):
        f = train_logs.read_train_log(swift)
    assert f["step"].tolist() == [1, 2] and f["loss"].tolist() == [2.0, 1.0]
    assert f.attrs["other_lines"] == 1 and len(f.attrs["bad_lines"]) == 1 and ":2:" in f.attrs["bad_lines"][0]

    ours = tmp_path / "train_log.jsonl"
    ours.write_text(
        "".join(
            json.dumps({"step": s, "epoch": s / 4, "loss": 3.0 / s, "learning_rate": 2e-4}) + "\n" for s in range(1, 5)
        ),
        encoding="utf-8",
    )
    g = train_logs.read_train_log(ours)
    assert g["step"].tolist() == [1, 2, 3, 4] and g["epoch"].iloc[-1] == 1.0

    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"train_runtime": 1}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no training-loss rows"):
        train_logs.read_train_log(empty)


def test_smooth_is_debiased_ema():
    s = train_logs.smooth([1.0, 1.0, 1.0], 0.9)
    assert s.tolist() == pytest.approx([1.0, 1.0, 1.0])  # no pull towards 0 at the start
    s = train_logs.smooth([0.0, 10.0], 0.5)
    assert s.iloc[1] == pytest.approx((0.5 * 0 + 1 * 10) / 1.5)
    with pytest.raises(ValueError):
        train_logs.smooth([1.0], 1.0)


def test_size_key_orders_sizes():
    assert sorted(["32B", "4B", "135M", "14B", "8B"], key=model_names.size_key) == ["135M", "4B", "8B", "14B", "32B"]
    assert model_names.size_key("8k") == float("inf")  # a context length, not a model size: sorts last


def test_one_size_parser_for_every_name():
    """Published result files, the authors' train logs and our model ids are read by the same parser."""
    assert [
        model_names.parse_size(n) for n in ("qwen14B", "Qwen/Qwen3-4B", "smollm2-135m", "Qwen2.5-0.5B", "qwen3")
    ] == ["14B", "4B", "135M", "0.5B", None]
    assert published_scores.parse_result_name("qwq32B_comprehensive")["size"] == "32B"
    assert published_scores.parse_result_name("qwen3_4Bx_targeted") is None  # the whole part must be a size
    assert model_names.model_label("Qwen/Qwen2.5-0.5B-Instruct") == ("Qwen2.5 0.5B", "0.5B")


def test_figures_follow_the_umask(tmp_path):
    """save_figure writes through io.atomic_file like every output: group-readable/-writable under umask 002."""
    import os
    import stat

    fig = plt.figure()
    old = os.umask(0o002)
    try:
        paths = figure_style.save_figure(fig, tmp_path, "x")
    finally:
        os.umask(old)
        plt.close(fig)
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths} == {0o664}  # was 0644 whatever the umask


def _synthetic_runs():
    rows = [
        {"size": size, "strategy": st, "run": run, "center": c, "metric": m, "value": 0.1 * i + 0.01 * run}
        for c in ("center1", "center2")
        for m in published_scores.METRICS
        for i, st in enumerate(["baseline", "targeted_sft"], 1)
        for size in ("135M", "360M")
        for run in (1, 2, 3)
    ]
    return pd.DataFrame(rows)


def test_plots_write_png_and_pdf(tmp_path):
    runs = _synthetic_runs()
    human = pd.DataFrame(
        [{"center": c, "metric": m, "value": 0.5} for c in ("center1", "center2") for m in published_scores.METRICS]
    )
    strict = pd.DataFrame(
        [
            {"label": lab, "group": g, "center": c, "metric": m, "value": v}
            for c in ("center1", "center2")
            for m in published_scores.METRICS
            for lab, g, v in (
                ("Ours", "PeriComp (LoRA)", 0.6),
                ("TF-IDF", "Classical baseline", 0.05),
                ("Human", "Human", 0.7),
            )
        ]
    )
    loss = train_logs.loss_frame({"135M": _loss_log(tmp_path / "a.jsonl"), "360M": _loss_log(tmp_path / "b.jsonl")})
    figs = {
        "f1": paper_figures.plot_f1_boxes(runs, human),
        "strict": paper_figures.plot_strict_bars(strict),
        "loss": paper_figures.plot_loss_curves(loss, x="step", title_prefix=""),
    }
    for stem, fig in figs.items():
        paths = figure_style.save_figure(fig, tmp_path / "out", stem)
        plt.close(fig)
        assert [p.suffix for p in paths] == [".png", ".pdf"]
        assert all(p.stat().st_size > 1000 for p in paths)
        assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:5] == b"%PDF-"
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic: no temp files left behind


def _loss_log(path):
    path.write_text(
        "".join(json.dumps({"step": s, "epoch": s / 10, "loss": 2.0 / s}) + "\n" for s in range(1, 21)),
        encoding="utf-8",
    )
    return path


def test_plot_rejects_bad_frames():
    with pytest.raises(ValueError, match="lacks column"):
        paper_figures.plot_f1_boxes(pd.DataFrame({"center": [], "value": []}))
    with pytest.raises(ValueError, match="empty"):
        paper_figures.plot_strict_bars(pd.DataFrame(columns=["label", "group", "center", "metric", "value"]))


def test_runs_loss_figure_finds_our_logs(tmp_path):
    for name in ("smollm2-135m_1", "smollm2-135m_2"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        _loss_log(tmp_path / "runs" / name / "train_log.jsonl")
    fig, frame = run_figures.runs_loss_figure(tmp_path / "runs", tmp_path / "figs")
    plt.close(fig)
    assert sorted(frame["label"].unique()) == ["smollm2-135m_1", "smollm2-135m_2"]
    assert (tmp_path / "figs" / "runs_loss.png").stat().st_size > 0
    with pytest.raises(FileNotFoundError, match="no train_log.jsonl"):
        run_figures.runs_loss_figure(tmp_path / "figs")


# --------------------------------------------------------------------------------- authors' files


@pytest.fixture(scope="module")
def lenient(pericomp_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every published run file must score without a problem
        return published_scores.lenient_frame(pericomp_dir)


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
        row = lenient[
            (lenient.center == center)
            & (lenient["size"] == size)
            & (lenient.strategy == strategy)
            & (lenient.run == run)
            & (lenient.metric == metric)
        ]
        return float(row["value"].iloc[0])

    assert value("center1", "4B", "targeted", 1) == pytest.approx(0.4631, abs=5e-5)
    assert value("center1", "32B", "targeted_sft", 4) == pytest.approx(0.7194, abs=5e-5)
    assert value("center2", "8B", "targeted_sft", 2) == pytest.approx(0.7895, abs=5e-5)
    human = published_scores.human_frame(pericomp_dir).set_index(["center", "metric"])["value"]
    assert human[("center1", "f1")] == pytest.approx(0.5263, abs=5e-5)  # validation cases only
    assert human[("center1", "precision")] == pytest.approx(0.5932, abs=5e-5)


def test_figure7_matches_paper(pericomp_dir):
    frame = published_scores.strict_frame(pericomp_dir)
    f1 = frame[frame.metric == "f1"].set_index(["center", "label"])["value"]
    assert round(f1[("center2", "Gemini 2.5 Flash")], 3) == 0.715
    assert round(f1[("center2", "Human annotator")], 3) == 0.687
    assert round(f1[("center1", "Gemini 2.5 Flash")], 3) == 0.631  # center 1: validation cases
    assert set(frame["group"]) == {"PeriComp (LoRA)", "Commercial", "Human"}
    assert frame.groupby("center").size().to_dict() == {"center1": 30, "center2": 30}


def test_figure6a_reads_published_logs(pericomp_dir):
    logs = train_logs.published_train_logs(pericomp_dir)
    assert list(logs) == ["4B", "8B", "14B", "32B"]
    frame = train_logs.loss_frame(logs)
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


# ------------------------------------------------------------------------------------ our own runs

_RUN_SCORES = {  # run -> model -> lenient micro F1 around which seeds scatter
    "qwen3-4b": {"base": 0.45, "adapter": 0.72, "tfidf_baseline": 0.30, "most_frequent": 0.10},
    # evaluate_run names models by file stem: predictions/baseline.json gives "baseline"
    "smollm2-135m-comp": {"base": 0.20, "adapter": 0.35, "baseline": 0.30, "most_frequent": 0.10},
}


def _fake_run(seed_dir, run, seed, params_yaml):
    """One runs/<run>/seed-<n> folder as batch.py leaves it, with plausible scores."""
    (seed_dir / "tables").mkdir(parents=True)
    rows = []
    for mode, drop in (("lenient", 0.0), ("strict", 0.12)):
        for averaging, shift in (("micro", 0.0), ("macro", 0.03)):
            for model, f1 in _RUN_SCORES[run].items():
                # the baseline depends on the cohort (seed) only, so both runs score it the same
                jitter = 0.02 * seed if "baseline" in model else 0.03 * seed
                v = max(f1 - drop + shift + jitter, 0.01)
                rows.append(
                    {
                        "Models": model,
                        "averaging": averaging,
                        "mode": mode,
                        "Precision": v + 0.05,
                        "Recall": v - 0.04,
                        "F1_score": v,
                        "n_cases": 12,
                    }
                )
    pd.DataFrame(rows).to_csv(seed_dir / "tables" / "run_metrics.csv", index=False)
    (seed_dir / "train_log.jsonl").write_text(
        "".join(json.dumps({"step": s, "epoch": s / 10, "loss": 2.0 / s + 0.05 * seed}) + "\n" for s in range(1, 21)),
        encoding="utf-8",
    )
    if run == "qwen3-4b":  # the params 03_finetune stored with the adapter
        (seed_dir / "adapter").mkdir()
        _write(
            seed_dir / "adapter" / "training_params.json",
            {"params": {"model_name_or_path": "Qwen/Qwen3-4B", "strategy": "targeted", "prompt_layout": "paper"}},
        )
        _write(seed_dir / "targeted_prompts.json", {})
    else:  # no adapter params: the executed notebooks' papermill parameters tell
        _write(seed_dir / "comprehensive_prompts.json", {})
        (seed_dir / "notebooks").mkdir()
        for nb, params in (
            ("02_prompts.ipynb", {"strategy": "comprehensive", "prompt_layout": "paper"}),
            ("04_inference.ipynb", {"params_path": str(params_yaml)}),
        ):
            _write(seed_dir / "notebooks" / nb, {"cells": [], "metadata": {"papermill": {"parameters": params}}})


@pytest.fixture
def fake_runs(tmp_path):
    runs = tmp_path / "runs"
    yaml = tmp_path / "smollm2.yaml"
    yaml.write_text(
        "run_name: smollm2-135m-comp\nmodel_name_or_path: smollm2-135m\nstrategy: comprehensive\n", encoding="utf-8"
    )
    for run in _RUN_SCORES:
        for seed in (1, 2):
            _fake_run(runs / run / f"seed-{seed}", run, seed, yaml)
    return runs


def test_run_info_reads_params_notebooks_and_prompts(fake_runs):
    from pericomp_lib.evaluation.provenance import run_info
    from pericomp_lib.llm.model_names import model_label

    a = run_info(fake_runs / "qwen3-4b" / "seed-1")
    assert (a["model_label"], a["size_label"], a["strategy"]) == ("Qwen3 4B", "4B", "targeted")
    assert "training_params.json" in a["source"]
    b = run_info(fake_runs / "smollm2-135m-comp" / "seed-2")
    assert (b["model_label"], b["strategy"], b["prompt_layout"]) == ("SmolLM2 135M", "comprehensive", "paper")
    assert "02_prompts.ipynb" in b["source"] and "smollm2.yaml" in b["source"]
    bare = fake_runs / "tiny" / "seed-1"
    bare.mkdir(parents=True)
    _write(bare / "targeted_prompts.json", {})
    c = run_info(bare)
    assert (c["model_name_or_path"], c["strategy"], c["size_label"]) == ("tiny", "targeted", "")
    assert model_label("Qwen/QwQ-32B") == ("QwQ 32B", "32B")


def test_runs_metric_frame_labels_every_row(fake_runs):
    f = run_scores.runs_metric_frame(fake_runs)
    assert len(f) == 2 * 2 * 4 * 3  # runs x seeds x models x metrics (micro lenient only)
    hues = f.groupby("x")["strategy"].unique().map(sorted).to_dict()
    assert hues == {
        "Qwen3 4B": ["baseline", "most_frequent", "targeted", "targeted_sft"],
        "SmolLM2 135M": ["baseline", "comprehensive", "comprehensive_sft", "most_frequent"],
    }
    one = f[(f.run == "qwen3-4b") & (f.seed == 2) & (f.Models == "adapter") & (f.metric == "f1")]["value"]
    assert one.tolist() == pytest.approx([0.72 + 0.06])
    assert set(f.attrs["run_info"]) == {
        "qwen3-4b/seed-1",
        "qwen3-4b/seed-2",
        "smollm2-135m-comp/seed-1",
        "smollm2-135m-comp/seed-2",
    }
    with pytest.raises(ValueError, match="averaging"):
        run_scores.runs_metric_frame(fake_runs, averaging="weighted")


def test_runs_figures_write_files(fake_runs, tmp_path):
    out = tmp_path / "figs"
    fig6, f6 = run_figures.runs_figure6b(fake_runs, out)
    fig7, bars = run_figures.runs_figure7(fake_runs, out)
    figl, loss = run_figures.runs_loss_figure(fake_runs, out)
    for fig in (fig6, fig7, figl):
        plt.close(fig)
    for stem in ("runs_figure6b_f1", "runs_figure7_strict", "runs_loss"):
        for ext in ("png", "pdf"):
            assert (out / f"{stem}.{ext}").stat().st_size > 10_000
    # 6b: per model, its set-ups beside the classical baseline and the most-frequent label set (issue 10),
    # each baseline drawn once per seed although both runs scored it
    assert {"most_frequent", "baseline"} <= set(f6["strategy"])
    assert f6.groupby(["x", "strategy"]).size().unique().tolist() == [2 * 3]  # seeds x metrics per box
    # 7: adapter and base per run, one shared baseline bar; mean and SD over the two seeds
    f1 = bars[bars.metric == "f1"].set_index("label")
    assert sorted(f1.index) == [
        "Classical baseline (TF-IDF)",
        "Qwen3 4B",
        "Qwen3 4B + LoRA",
        "SmolLM2 135M",
        "SmolLM2 135M + LoRA",
    ]
    assert (f1["n_seeds"] == 2).all() and f1.loc["Qwen3 4B", "group"] == "Base model"
    assert f1.loc["Qwen3 4B + LoRA", "value"] == pytest.approx(0.72 - 0.12 + 0.045)
    assert f1.loc["Qwen3 4B + LoRA", "spread"] == pytest.approx(0.03 / 2**0.5)
    # loss: one panel per run, seeds as lines
    assert sorted(loss["run"].unique()) == ["qwen3-4b", "smollm2-135m-comp"] and set(loss["seed"]) == {1, 2}
    assert not list(tmp_path.glob("figs/figure*"))  # the published figures' names are left alone


def test_runs_bars_per_model_when_cohorts_differ(fake_runs):
    f = run_scores.runs_metric_frame(fake_runs, mode="strict")
    f.loc[(f.run == "qwen3-4b") & (f.Models == "tfidf_baseline"), "value"] += 0.1  # other cases scored
    bars = run_scores.runs_bar_frame(f)
    labels = set(bars[bars.group == "Classical baseline"]["label"])
    assert labels == {"Classical baseline · Qwen3 4B", "Classical baseline · SmolLM2 135M"}


@pytest.mark.notebook
def test_notebook_06_runs_mode(fake_runs, run_notebook, tmp_path):
    out = tmp_path / "figs"
    executed = run_notebook("06_figures.ipynb", runs_dir=str(fake_runs), figures_dir=str(out))  # no pericomp_dir
    for stem in ("runs_figure6b_f1", "runs_figure7_strict", "runs_loss"):
        for ext in ("png", "pdf"):
            assert (out / f"{stem}.{ext}").stat().st_size > 10_000
    assert not list(out.glob("figure*"))  # published mode skipped without pericomp_dir
    text = json.dumps([c.get("outputs", []) for c in json.loads(executed.read_text(encoding="utf-8"))["cells"]])
    assert "image/png" in text and "Qwen3 4B + LoRA" in text


def test_runs_figure6b_warns_about_rows_it_cannot_place(fake_runs, tmp_path):
    extra = fake_runs / "mystery" / "seed-1"
    _fake_run(extra, "qwen3-4b", 1, None)
    (extra / "targeted_prompts.json").unlink()
    (extra / "adapter" / "training_params.json").unlink()
    with pytest.warns(UserWarning, match="mystery:adapter"):
        fig, frame = run_figures.runs_figure6b(fake_runs)
    plt.close(fig)
    assert set(frame[frame.run == "mystery"]["strategy"]) == {"baseline", "most_frequent"}  # baselines need no strategy


def test_runs_pr_figure_marks_the_greedy_answer(tmp_path):
    """decisions.runs_pr_frame: one curve per run x seed x model, the greedy point at P(True) >= 0.5."""
    rows = [
        {"split": "eval", "case_id": f"c{i}", "complication": "pneumonia", "model": m, "gold": g, "p_true": p}
        for m in ("base", "adapter")
        for i, (g, p) in enumerate([(1, 0.9), (0, 0.7), (1, 0.2), (0, 0.1)])
    ]
    (tmp_path / "runs" / "r" / "seed-1").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(tmp_path / "runs" / "r" / "seed-1" / "decisions.csv", index=False)
    fig, frame = run_figures.runs_pr_figure(tmp_path / "runs", tmp_path / "figs")
    plt.close(fig)
    assert (tmp_path / "figs" / "runs_pr_curves.png").stat().st_size > 10_000
    assert set(frame.model) == {"base", "adapter"} and set(frame.seed) == {"seed-1"}
    assert frame.greedy_precision.unique().tolist() == [0.5] and frame.greedy_recall.unique().tolist() == [0.5]
    assert run_figures.runs_pr_figure(tmp_path / "figs")[0] is None  # no decisions.csv: nothing drawn


def test_runs_pr_figure_lists_seeds_by_number_beside_the_curves(tmp_path):
    rows = [
        {"split": "eval", "case_id": f"c{i}", "complication": "pneumonia", "model": "adapter", "gold": g, "p_true": p}
        for i, (g, p) in enumerate([(1, 0.9), (0, 0.7), (1, 0.2), (0, 0.1)])
    ]
    for seed in (10, 2, 1, 3, 4, 5):
        (tmp_path / "runs" / "r" / f"seed-{seed}").mkdir(parents=True)
        pd.DataFrame(rows).to_csv(tmp_path / "runs" / "r" / f"seed-{seed}" / "decisions.csv", index=False)
    fig, _ = run_figures.runs_pr_figure(tmp_path / "runs")
    legend = fig.axes[0].get_legend()
    lines = {(tuple(line.get_color()), line.get_linestyle()) for line in fig.axes[0].get_lines()}
    plt.close(fig)
    seeds = [t.get_text().rsplit(" ", 1)[-1] for t in legend.get_texts()]
    assert seeds == ["seed-1", "seed-2", "seed-3", "seed-4", "seed-5", "seed-10"]
    assert len(lines) == len(seeds)  # every seed its own colour and style: styles alone repeat after four
    assert legend.get_bbox_to_anchor().x0 > fig.axes[0].get_window_extent().x1 - 1  # outside the axes


def test_runs_pr_figure_names_each_model_once_when_many_seeds(tmp_path):
    rows = [
        {"split": "eval", "case_id": f"c{i}", "complication": "pneumonia", "model": m, "gold": g, "p_true": p}
        for m in ("base", "adapter")
        for i, (g, p) in enumerate([(1, 0.9), (0, 0.7), (1, 0.2), (0, 0.1)])
    ]
    for seed in range(30, 48):  # 18 seeds x 2 models: 36 curves named
        (tmp_path / "runs" / "r" / f"seed-{seed}").mkdir(parents=True)
        pd.DataFrame(rows).to_csv(tmp_path / "runs" / "r" / f"seed-{seed}" / "decisions.csv", index=False)
    fig, _ = run_figures.runs_pr_figure(tmp_path / "runs")
    fig.canvas.draw()
    legend = fig.axes[0].get_legend()
    names = [t.get_text() for t in legend.get_texts()]
    assert len(fig.axes[0].get_lines()) == 36 and len(names) == 2  # every seed drawn, each model named once
    assert all(name.endswith("(18 seeds, a line each)") for name in names)
    assert legend.get_window_extent().height <= fig.bbox.height  # one entry per curve ran off the figure
    plt.close(fig)


def test_runs_loss_legend_of_many_seeds_stays_below_the_x_axis():
    frame = pd.DataFrame(
        [
            {"run": "r", "seed": seed, "step": step, "loss": 1.0 / step, "smoothed": 1.0 / step}
            for seed in range(30, 48)
            for step in range(1, 6)
        ]
    )
    fig = run_figures.plot_runs_loss(frame)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    axes = fig.axes[0].get_tightbbox(renderer)  # the axes with their tick labels and x label
    assert len(fig.legends[0].get_texts()) == 20
    assert legend.y1 <= axes.y0 + 1  # three rows of seeds once ran over the x label
    plt.close(fig)
