"""Issue 11 / 14 (params): one typed parameter model, notebooks driven by `-f params/<profile>.yaml` from any
working directory, the run folder contract (params.json), clean CLI errors, duplicate run names, Ctrl-C."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import NOTEBOOKS, ROOT
from pericomp_lib.core import params
from pericomp_lib.core.params import ParamsError, load_params, validate
from pericomp_lib.pipeline import batch, notebook_params, notebook_runner, runfolder, stages

PY = sys.executable
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONPATH": str(ROOT),
}
TINY = ROOT / "params" / "tiny-random.yaml"
SMALL = {"max_steps": 2, "max_eval_cases": 1, "max_new_tokens": 4, "complications": ["pneumonia", "delirium"]}


# ------------------------------------------------------------------------------------------ the model
@pytest.mark.parametrize(
    "key, value, says",
    [
        ("num_epochs", "abc", "must be a number"),
        ("max_eval_cases", -1, "out of range"),
        ("gradient_checkpointing", "no", "true or false"),
        ("packing", "false", "true or false"),
        ("lora_r", 16.5, "must be an integer"),
        ("device", "gpu", "auto, cpu, cuda, cuda:N or mps"),
        ("max_steps", 0, "-1 to train num_epochs"),
        ("n_cases", True, "must be an integer"),
        ("run_name", "a/b", "folder name"),
        ("complications", ["pneumonia", "flu"], "unknown id"),
    ],
)
def test_bad_values_name_the_key(key, value, says):
    with pytest.raises(ParamsError) as e:
        validate({key: value}, "x.yaml")
    msg = str(e.value)
    assert msg.startswith(f"x.yaml: {key}={value!r}") and says in msg and "\n" not in msg


def test_numbers_from_yaml_strings_and_good_values(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        "run_name: p\nmodel_name_or_path: tiny-random\nlearning_rate: 1e-4\nnum_epochs: '3'\n"
        "max_eval_cases: null\ndevice: cuda:1\n"
    )
    assert yaml.safe_load(f.read_text())["learning_rate"] == "1e-4"  # YAML 1.1 reads it as a string
    p = load_params(f)
    assert (p["learning_rate"], p["num_epochs"], p["max_eval_cases"], p["device"]) == (1e-4, 3.0, None, "cuda:1")
    assert isinstance(p, dict) and set(p) == set(params.DEFAULTS)


def test_unknown_key_lists_allowed_keys():
    with pytest.raises(ParamsError, match=r"unknown key\(s\) lora_rank; allowed keys: .*lora_r"):
        validate({"lora_rank": 8})


def test_relative_paths_resolve_against_repository_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = load_params(TINY, cohort_path="data/mine.jsonl", definitions="/abs/defs.md", adapter="Org/adapter")
    assert p["cohort_path"] == str(ROOT / "data" / "mine.jsonl")
    assert p["definitions"] == "/abs/defs.md" and p["adapter"] == "Org/adapter"  # hub ids stay hub ids


def test_every_stage_tag_is_a_stage():
    assert set(params.STAGE_OF.values()) <= set(stages.STAGES) | {""}
    keys = ("01", "03", "04", "02b", "03b", "04b")
    view = {k: stages.fingerprint_parameters(k, {**params.DEFAULTS, "run_dir": "r"}) for k in keys}
    assert "max_new_tokens" in view["04"] and "max_new_tokens" not in view["03"]
    assert "n_cases" in view["01"] and "lora_r" in view["03"] and "run_dir" in view["04"]
    # the chart Q&A stages read their own keys and those of their 01-05 twins (03b trains with 03's keys)
    assert "qa_trials" in view["04b"] and "qa_trials" not in view["03b"] and "lora_r" in view["03b"]
    assert "qa_pairs_per_subject" in view["02b"] and "qa_pairs_per_subject" not in view["04"]


# ------------------------------------------------------------------------------------------ resolution
def test_resolve_precedence_and_params_json(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pericomp_lib.pipeline.notebook_params")
    run = tmp_path / "run"
    p, rdir = notebook_params.resolve("01", params_path="params/tiny-random.yaml", run_dir=str(run), n_cases=5)
    assert rdir == run and p["n_cases"] == 5 and p["model_name_or_path"] == "tiny-random"
    assert json.loads((run / "params.json").read_text())["run_name"] == "tiny-random"
    # a later stage starts from the run's params.json, not from the default profile
    p2, _ = notebook_params.resolve("03", run_dir=str(run), max_steps=2)
    assert (p2["n_cases"], p2["max_steps"], p2["run_name"]) == (5, 2, "tiny-random")
    assert json.loads((run / "params.json").read_text())["max_steps"] == 2
    assert any("max_steps changed" in r.getMessage() for r in caplog.records)
    # 05 reads and never writes
    notebook_params.resolve("05", run_dir=str(run), max_steps=3)
    assert json.loads((run / "params.json").read_text())["max_steps"] == 2
    # no params at all: the CPU default profile and its run folder in the repository
    p3, rdir3 = notebook_params.resolve("05")
    assert p3["run_name"] == "smollm2-135m" and rdir3 == ROOT / "runs" / "smollm2-135m" / "seed-1"
    # a whole profile (what -f injects) replaces the default profile
    whole = yaml.safe_load(TINY.read_text())
    p4, _ = notebook_params.resolve("05", run_dir=str(tmp_path / "other"), **whole)
    assert p4["complications"] is None and p4["record_length"] == "full"


def test_none_given_as_text_is_honoured_or_refused_never_kept(tmp_path):
    """`-p complications None` arrives as None, but `-p complications null`, `-r adapter None` and a YAML
    `definitions: None` arrive as strings: each becomes None where the key takes it (02 then asks all 22, not
    the default profile's 4) and fails in one line where it cannot; never the string "None"."""
    run = tmp_path / "run"
    p, _ = notebook_params.resolve("02", run_dir=str(run), quiet=True, complications="null", adapter="None")
    assert p["complications"] is None and p["adapter"] is None  # was: refused 'null' as not a list; kept 'None'
    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text(TINY.read_text() + "definitions: None\nnegative_ratio: ~\n")
    p, _ = notebook_params.resolve("02", params_path=str(yaml_file), run_dir=str(run), quiet=True)
    assert p["definitions"] is None and p["negative_ratio"] is None  # was: definitions = <repo>/None
    with pytest.raises(ParamsError, match=r"notebook parameters: lora_r='None' reads as null, which lora_r cannot be"):
        notebook_params.resolve("02", run_dir=str(run), quiet=True, lora_r="None")
    p, _ = notebook_params.resolve("02", run_dir=str(run), quiet=True, complications=None)
    assert p["complications"] is None


def test_from_notebook_refuses_injected_typos(tmp_path):
    ns = {
        "In": [
            "",
            "params_path = None\nrun_dir = None\nsplit = 'eval'\n",
            "# Parameters\nrun_dir = 'x'\nlora_rank = 8\nsplit = 'test'\n",
        ],
        "run_dir": str(tmp_path),
        "lora_rank": 8,
        "split": "test",
    }
    with pytest.raises(ParamsError, match="unknown parameter.*lora_rank"):
        notebook_params.from_notebook(ns, "02")
    ns["In"][2] = "# Parameters\nrun_dir = 'x'\nsplit = 'test'\nlora_r = 8\n"
    p, _ = notebook_params.from_notebook({**ns, "lora_r": 8}, "02", quiet=True)
    assert p["lora_r"] == 8


def test_paper_mode_needs_pericomp_dir_and_runs_never_do(tmp_path):
    with pytest.raises(ParamsError, match="pericomp_dir.*github.com/gscfwid/PeriComp"):
        runfolder.figures_setup("paper", None, None, None)
    with pytest.raises(ParamsError, match="pericomp_dir"):
        runfolder.evaluate_setup({"mode": "paper"})
    (tmp_path / "r" / "seed-1" / "tables").mkdir(parents=True)
    (tmp_path / "r" / "seed-1" / "tables" / "run_metrics.csv").write_text("x\n")
    mode, runs_dir, pericomp_dir, figures_dir = runfolder.figures_setup(None, str(tmp_path), None, None)
    assert (mode, runs_dir, pericomp_dir, figures_dir) == ("runs", tmp_path, None, ROOT / "figures")
    with pytest.raises(ParamsError, match="no scored runs"):
        runfolder.figures_setup(None, str(tmp_path / "empty"), None, None)


def test_run_info_reads_params_json(tmp_path):
    from pericomp_lib.evaluation.provenance import run_info

    run = tmp_path / "x" / "seed-1"
    run.mkdir(parents=True)
    (run / "params.json").write_text(
        json.dumps({**params.DEFAULTS, "model_name_or_path": "Qwen/Qwen3-8B", "strategy": "comprehensive"})
    )
    info = run_info(run)
    assert (info["model_label"], info["strategy"], info["prompt_layout"]) == ("Qwen3 8B", "comprehensive", "paper")
    assert "params.json" in info["source"]


# ------------------------------------------------------------------------------------------ CLIs
@pytest.mark.parametrize(
    "line", ["num_epochs: abc", "max_eval_cases: -1", "gradient_checkpointing: 'no'", "lora_r: 16.5", "device: gpu"]
)
def test_cli_bad_params_one_line_no_traceback(tmp_path, line):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"run_name: bad\nmodel_name_or_path: tiny-random\n{line}\n")
    r = subprocess.run(
        [PY, "-m", "pericomp_lib", "batch", "--params", str(bad), "--runs-dir", str(tmp_path / "runs")],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    key = line.split(":")[0]
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: {key}=")
    assert not (tmp_path / "runs").exists()


def test_duplicate_run_name_refused(tmp_path, capsys):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("run_name: same\nmodel_name_or_path: tiny-random\n")
    b.write_text("run_name: same\nmodel_name_or_path: smollm2-135m\n")
    assert batch.cli(["--params", str(a), str(b), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "same run_name 'same'" in err and str(a) in err and str(b) in err
    assert not (tmp_path / "runs").exists()


def test_stage_output_streams_prints_and_drops_noise():
    import io

    out = io.StringIO()
    s = notebook_runner.StageOutput("[r 04] ", out=out, every=60)
    s.write("/x.py:1: FutureWarning: old\n")
    s.write("  warnings.warn(\n")
    s.write("88 answers generated\n")
    s.write("base: 10%|#  | 1/10\rbase: 20%|## | 2/10\r")
    s.write("base: 30%|###| 3/10\r")  # throttled
    s.write("".join(f"line {i}\n" for i in range(10)))
    text = out.getvalue()
    assert "Warning" not in text and "warnings.warn" not in text
    assert "[r 04] 88 answers generated" in text and "base: 20%" in text and "base: 30%" not in text
    assert "line 3" in text and "line 4" not in text and "6 more lines" in text


# ------------------------------------------------------------------------------------------ notebooks
def _papermill(nb: str, out: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [PY, "-m", "papermill", str(NOTEBOOKS / nb), str(out), "--no-progress-bar", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, f"{nb} from {cwd} {args}:\n{r.stderr[-3000:]}"
    return r


def _check_run(run: Path) -> None:
    import pandas as pd

    stored = json.loads((run / "params.json").read_text())
    assert stored["run_name"] == "tiny-random" and stored["max_steps"] == 2
    assert (run / "targeted_prompts.json").exists() and (run / "adapter" / "adapter_config.json").exists()
    assert json.loads((run / "predictions" / "base.json").read_text())  # one case answered
    table = pd.read_csv(run / "tables" / "run_metrics.csv")
    assert {"base", "adapter"} <= set(table.Models) and (table.n_cases == 1).all()


@pytest.mark.notebook
def test_01_to_05_from_repository_root_with_f_and_root_relative_paths(tmp_path):
    rel = Path("runs") / f"_pytest-{uuid.uuid4().hex[:8]}" / "seed-1"
    small = "\n".join(f"{k}: {json.dumps(v)}" for k, v in SMALL.items())
    try:
        for nb in ("01_cohort", "02_prompts", "03_finetune", "04_inference", "05_evaluate"):
            _papermill(
                f"{nb}.ipynb",
                tmp_path / f"executed_{nb}.ipynb",
                ROOT,
                "-f",
                "params/tiny-random.yaml",
                "-y",
                small,
                "-p",
                "run_dir",
                str(rel),
            )
        _check_run(ROOT / rel)
    finally:
        shutil.rmtree(ROOT / rel.parent, ignore_errors=True)


@pytest.mark.notebook
def test_01_to_05_from_tmp_with_absolute_paths(tmp_path):
    run = tmp_path / "run"
    out = tmp_path / "executed"
    out.mkdir()
    small = "\n".join(f"{k}: {json.dumps(v)}" for k, v in SMALL.items())
    _papermill("01_cohort.ipynb", out / "01.ipynb", tmp_path, "-f", str(TINY), "-y", small, "-p", "run_dir", str(run))
    _papermill("02_prompts.ipynb", out / "02.ipynb", tmp_path, "-p", "run_dir", str(run))
    # params_path is taken from the repository root, whatever the working directory
    _papermill(
        "03_finetune.ipynb",
        out / "03.ipynb",
        tmp_path,
        "-p",
        "params_path",
        "params/tiny-random.yaml",
        "-p",
        "max_steps",
        "2",
        "-p",
        "run_dir",
        str(run),
    )
    for nb in ("04_inference", "05_evaluate"):
        _papermill(f"{nb}.ipynb", out / f"{nb}.ipynb", tmp_path, "-p", "run_dir", str(run))
    _check_run(run)
    assert not list(tmp_path.glob("runs")) and not (tmp_path / "params").exists()  # nothing relative to the cwd


@pytest.mark.notebook
def test_params_file_edit_changes_what_01_does(tmp_path, run_notebook):
    profile = tmp_path / "mine.yaml"
    p = yaml.safe_load(TINY.read_text())
    profile.write_text(yaml.safe_dump({**p, "n_cases": 6}))
    run_notebook("01_cohort.ipynb", params_path=str(profile), run_dir=str(tmp_path / "run"))
    count = lambda: len((tmp_path / "run" / "cohort.jsonl").read_text().splitlines())  # noqa: E731
    assert count() == 6
    profile.write_text(yaml.safe_dump({**p, "n_cases": 9, "record_length": "compact"}))
    run_notebook("01_cohort.ipynb", params_path=str(profile), run_dir=str(tmp_path / "run"))
    assert count() == 9
    assert json.loads((tmp_path / "run" / "params.json").read_text())["record_length"] == "compact"


@pytest.mark.notebook
def test_notebook_bad_param_names_the_key(tmp_path):
    r = subprocess.run(
        [
            PY,
            "-m",
            "papermill",
            str(NOTEBOOKS / "01_cohort.ipynb"),
            str(tmp_path / "o.ipynb"),
            "-f",
            str(TINY),
            "-p",
            "gradient_checkpointing",
            "no",
            "-p",
            "run_dir",
            str(tmp_path / "r"),
        ],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode != 0 and "gradient_checkpointing='no' must be true or false" in r.stderr
    assert not (tmp_path / "r" / "cohort.jsonl").exists()


@pytest.mark.notebook
def test_a_kernel_killed_by_the_same_ctrl_c_prints_no_traceback(monkeypatch):
    """The full-suite failure of the test below: asyncio reported the dead kernel's DeadKernelError, with a
    traceback, after the batch summary. After Ctrl-C that record is dropped; before it, it is kept."""
    from nbclient.exceptions import DeadKernelError

    try:
        raise DeadKernelError("Kernel died")
    except DeadKernelError as e:
        exc_info = (type(e), e, e.__traceback__)
    record = logging.LogRecord(
        "asyncio", logging.ERROR, __file__, 1, "Task exception was never retrieved", (), exc_info
    )
    keep = batch.KernelDeathAfterCtrlC()
    monkeypatch.setattr(batch.CTRL_C, "seen", False)
    assert keep.filter(record)  # a kernel that dies on its own is an error worth its traceback
    monkeypatch.setattr(batch.CTRL_C, "seen", True)
    assert not keep.filter(record)
    assert any(isinstance(f, batch.KernelDeathAfterCtrlC) for f in logging.getLogger("asyncio").filters)
    other = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "x", (), (ValueError, ValueError("x"), None))
    assert keep.filter(other)  # only the kernel's death


def test_ctrl_c_stops_the_batch_with_a_summary(tmp_path):
    profile = tmp_path / "tiny.yaml"
    # 1,000 steps: training lasts well past the 3 s below, so the signal lands in stage 03 and not in the
    # hand-over to 04 (with 50 steps, tiny-random could finish 03 first on a quiet machine)
    profile.write_text(yaml.safe_dump({**yaml.safe_load(TINY.read_text()), "run_name": "ctrlc", "max_steps": 1000}))
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "pericomp_lib",
            "batch",
            "--params",
            str(profile),
            "--seeds",
            "1",
            "2",
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
        cwd=tmp_path,
        env=ENV,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    seen, t0 = [], time.time()
    for line in proc.stdout:  # wait until training (stage 03) is under way: its first step is logged
        seen.append(line)
        # not "stage 03:": on a loaded machine (pytest-xdist) the stage's kernel may still be starting seconds
        # later, and a traceback was seen there that did not come back alone
        if "training: step" in line or time.time() - t0 > 240:
            break
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    out, err = proc.communicate(timeout=120)
    text = "".join(seen) + out
    assert proc.returncode == 130, err[-2000:]
    assert "Batch summary" in text and "interrupted" in text and "not started" in text
    assert "Traceback" not in text + err, (text + err)[-4000:]
    assert (tmp_path / "runs" / "ctrlc" / "seed-1" / "cohort.jsonl").exists()  # finished stages are kept
