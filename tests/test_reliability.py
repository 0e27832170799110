"""Issue 14: no silent wrong results. Each test here failed on the code before the fix it names."""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from pericomp_lib.core import records


def _case(case_id: str, split: str = "validation", gold=None, language: str = "en") -> dict:
    return {
        "case_id": case_id,
        "center": "c1",
        "split": split,
        "language": language,
        "record": "Day 3: fever 38.6 C.",
        "gold": gold or [],
        "human": None,
    }


def _write_cohort(path: Path, cases: list[dict], prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases).encode("utf-8"))
    return path


# ------------------------------------------------------------------------------------ minor items (9)
def test_atomic_outputs_follow_the_umask(tmp_path):
    from pericomp_lib.core.io import write_json

    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # mkstemp alone gave 0600


def test_decoding_error_names_file_and_line(tmp_path):
    path = tmp_path / "cohort.jsonl"
    good = json.dumps(_case("a")).encode()
    path.write_bytes(good + b"\n" + good.replace(b'"a"', b'"b"').replace(b"fever", b"fi\xe8vre") + b"\n")
    with pytest.raises(records.CohortError, match=r"cohort\.jsonl:2: .*not UTF-8"):
        records.load_cohort(path)


def test_csv_decoding_error_names_file_and_line(tmp_path):
    from pericomp_lib.cohort.user_files import load_csv

    path = tmp_path / "cases.csv"
    path.write_bytes(b"case_id,record,labels,split\n1,ok,,train\n2," + "发热".encode("gb18030") + b",,train\n")
    with pytest.raises(records.CohortError, match=r"cases\.csv:3: .*not UTF-8"):
        load_csv(path, center="c1", language="zh")


def test_bom_is_accepted_in_jsonl_as_in_csv(tmp_path):
    from pericomp_lib.cohort.user_files import load_csv

    cases = records.load_cohort(_write_cohort(tmp_path / "c.jsonl", [_case("a"), _case("b")], b"\xef\xbb\xbf"))
    assert [c.case_id for c in cases] == ["a", "b"]
    csv_path = tmp_path / "c.csv"
    csv_path.write_bytes(b"\xef\xbb\xbfcase_id,record,labels,split\na,ok,,train\n")
    assert [c.case_id for c in load_csv(csv_path, center="c1", language="en")] == ["a"]


# ----------------------------------------------------------------------------------- zh definitions
def test_packaged_zh_definitions_parse_in_the_authors_layout():
    from pericomp_lib.core import taxonomy
    from pericomp_lib.prompting import definitions

    path = definitions.packaged_definitions_path("zh")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("## 术后并发症类别") and "\n## 常规分级\n" in text
    defs = definitions.load_definitions("zh")
    assert defs.language == "zh" and list(defs.sections) == list(taxonomy.IDS)
    assert all(defs.headings[c] == taxonomy.zh_heading(c) for c in taxonomy.IDS)
    assert "常规分级" not in defs.criteria("arrhythmia") and "轻度" in defs.criteria("arrhythmia")
    # our own wording, not the authors' file
    authors = ROOT.parent / "shared" / "pericomp-public" / "prompt" / "defination_modified.md"
    if authors.exists():
        theirs = set(authors.read_text(encoding="utf-8").splitlines())
        ours = [line for line in text.splitlines() if len(line.strip()) > 12 and not line.startswith("#")]
        assert sum(line in theirs for line in ours) < len(ours) // 10


# ------------------------------------------------------------------- the batch runner (fake notebooks)
from pericomp_lib.inference import runstore  # noqa: E402
from pericomp_lib.pipeline import batch  # noqa: E402


def _params(tmp_path: Path, name: str = "t", **over) -> Path:
    p = yaml.safe_load((ROOT / "params" / "tiny-random.yaml").read_text())
    p.update({"run_name": name, **over})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(p))
    return path


class _Summary:
    def __init__(self, failed: int = 0, errors=()):
        self.failed, self.errors = failed, list(errors)


class FakeNotebooks:
    """Stands in for papermill: writes each stage's outputs; stage 04 owes answers while `fail_04` > 0."""

    def __init__(self, fail_04: int = 0, raise_04: bool = False):
        self.calls: list[str] = []
        self.fail_04, self.raise_04 = fail_04, raise_04

    def __call__(self, name: str, out_path: Path, parameters: dict) -> None:
        self.calls.append(name[:2])
        run = Path(parameters.get("out_dir") or parameters["run_dir"])
        stage = batch.STAGES[name[:2]]
        p = {"strategy": "targeted"}
        for rel in stage.outputs(p, None):
            (run / rel).parent.mkdir(parents=True, exist_ok=True)
            if rel == "inference_report.json":
                cases = [records.Case(i, "c1", "validation", "en", "r", []) for i in ("a", "b", "c")]
                answers = {"base": {"a": {}, "b": {}, "c": {}}, "adapter": {"a": {}, "b": {}, "c": {}}}
                if self.fail_04:
                    del answers["adapter"]["c"]
                    self.fail_04 -= 1
                    runstore.write_inference_report(
                        run,
                        cases,
                        answers,
                        _Summary(2, ["adapter: 2 answer(s) failed (c/delirium ...): OutOfMemoryError"]),
                    )
                    if self.raise_04:
                        raise RuntimeError("adapter.json lacks 1 evaluation case")
                else:
                    runstore.write_inference_report(run, cases, answers, _Summary())
            elif rel == "raw.jsonl":
                (run / rel).write_text(
                    '{"case_id": "a", "item": "x", "model": "base", "prompt_hash": "h", "text": "t"}\n'
                    '{"case_id": "b", "item": "x", "model": "base", "prompt_hash": "h", "text": "t"}\n'
                )
            elif rel.endswith(".csv"):
                (run / rel).write_text("Models,averaging,mode,F1_score\n")
            else:
                (run / rel).write_text("x\n")


def _batch(params: Path, runs: Path, *stages: str) -> int:
    return batch.cli(["--params", str(params), "--seeds", "1", "--stages", *stages, "--runs-dir", str(runs)])


class _DroppedKernelClient:
    """What papermill lets go of when a stage ends (kernel client, sockets): a Ctrl-C landing while its finalizer
    runs becomes a KeyboardInterrupt inside __del__, which Python only reports as "Exception ignored"."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100_000):  # Python runs the signal handler here, inside the finalizer
            pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the finalizer's KeyboardInterrupt
def test_ctrl_c_in_the_hand_over_between_stages_stops_the_batch(tmp_path, monkeypatch, capsys):
    fake = FakeNotebooks()

    def stage_then_ctrl_c(name, out_path, parameters):
        fake(name, out_path, parameters)
        if name.startswith("03"):
            _DroppedKernelClient()  # dropped at once: the hand-over from 03 to 04

    monkeypatch.setattr(batch, "execute_notebook", stage_then_ctrl_c)
    params, runs = _params(tmp_path), tmp_path / "runs"
    before = signal.getsignal(signal.SIGINT)
    argv = ["--params", str(params), "--seeds", "1", "2", "--stages", "03", "04", "05", "--runs-dir", str(runs)]
    code = batch.cli(argv)
    assert fake.calls == ["03"], fake.calls  # was: 03 04 05 03 04 05, the Ctrl-C lost
    assert code == 130 and "STOPPED by Ctrl-C" in capsys.readouterr().out
    summary = json.loads((runs / "batch_summary.json").read_text())
    assert [r["status"] for r in summary] == ["interrupted", "not started"]
    assert (runs / "t" / "seed-1" / ".stages" / "03.json").exists()  # the finished stage is kept
    assert signal.getsignal(signal.SIGINT) is before  # the runner's handler is gone after the batch


def test_unusable_runs_dir_is_refused_before_any_run(tmp_path, monkeypatch, capsys):
    fake = FakeNotebooks()
    monkeypatch.setattr(batch, "execute_notebook", fake)
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    assert _batch(_params(tmp_path), blocker, "01") == 2  # was 1, after every run had failed on it
    err = capsys.readouterr().err
    assert err.startswith(f"error: --runs-dir: {blocker}: ") and err.count("\n") == 1, err
    assert "choose another folder with --runs-dir" in err and fake.calls == []


def test_failed_answers_leave_stage_04_incomplete_and_are_retried(tmp_path, monkeypatch, capsys):
    fake = FakeNotebooks(fail_04=1)
    monkeypatch.setattr(batch, "execute_notebook", fake)
    params, runs = _params(tmp_path), tmp_path / "runs"
    assert _batch(params, runs, "04", "05") == 1  # was 0 with status ok
    out = capsys.readouterr().out
    assert "INCOMPLETE t seed 1" in out and "adapter: 1 case(s) lack answers (c)" in out
    summary = json.loads((runs / "batch_summary.json").read_text())
    assert summary[0]["status"] == "incomplete"
    assert not (runs / "t" / "seed-1" / ".stages" / "04.json").exists()
    assert fake.calls == ["04"]  # 05 does not score a run that owes answers
    # the same command again retries 04 (it was "up to date, skipped" before), then runs 05
    assert _batch(params, runs, "04", "05") == 0
    assert fake.calls == ["04", "04", "05"]
    assert _batch(params, runs, "04", "05") == 0 and fake.calls == ["04", "04", "05"]


def test_a_notebook_that_stops_over_owed_answers_is_incomplete_not_failed(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "execute_notebook", FakeNotebooks(fail_04=1, raise_04=True))
    runs = tmp_path / "runs"
    assert _batch(_params(tmp_path), runs, "04") == 1
    assert json.loads((runs / "batch_summary.json").read_text())[0]["status"] == "incomplete"


def test_raw_jsonl_damaged_after_04_completed_reruns_04(tmp_path, monkeypatch, capsys):
    fake = FakeNotebooks()
    monkeypatch.setattr(batch, "execute_notebook", fake)
    params, runs = _params(tmp_path), tmp_path / "runs"
    assert _batch(params, runs, "04") == 0 and _batch(params, runs, "04") == 0
    assert fake.calls == ["04"]
    raw = runs / "t" / "seed-1" / "raw.jsonl"
    raw.write_bytes(raw.read_bytes()[:-20])  # cut the last line
    capsys.readouterr()
    assert _batch(params, runs, "04") == 0  # was "stage 04 up to date, skipped"
    assert fake.calls == ["04", "04"]
    assert "changed or damaged since the stage completed: raw.jsonl" in capsys.readouterr().out
    raw.write_bytes(raw.read_bytes()[:-20])
    damaged = raw.read_bytes()
    assert "raw.jsonl:2: last line is cut off" in runstore.check(raw)[0]  # names the line, repairs nothing
    assert raw.read_bytes() == damaged


def test_editing_the_user_cohort_file_reruns_stage_01(tmp_path, monkeypatch):
    fake = FakeNotebooks()
    monkeypatch.setattr(batch, "execute_notebook", fake)
    cohort = _write_cohort(tmp_path / "mine.jsonl", [_case("a", gold=[{"complication": "pneumonia", "grade": "mild"}])])
    params, runs = _params(tmp_path, cohort_source="jsonl", cohort_path=str(cohort)), tmp_path / "runs"
    assert _batch(params, runs, "01") == 0 and _batch(params, runs, "01") == 0
    assert fake.calls == ["01"]
    _write_cohort(cohort, [_case("a", gold=[{"complication": "pneumonia", "grade": "severe"}])])  # a grade changed
    assert _batch(params, runs, "01") == 0
    assert fake.calls == ["01", "01"]


def test_editing_definitions_or_a_local_model_folder_reruns_what_reads_them(tmp_path, monkeypatch):
    fake = FakeNotebooks()
    monkeypatch.setattr(batch, "execute_notebook", fake)
    from pericomp_lib.prompting import definitions

    defs = tmp_path / "defs.md"
    defs.write_text(definitions.packaged_definitions_path("en").read_text(encoding="utf-8"), encoding="utf-8")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"a": 1}')
    params, runs = _params(tmp_path, definitions=str(defs), model_name_or_path=str(model)), tmp_path / "runs"
    assert _batch(params, runs, "02", "03") == 0 and _batch(params, runs, "02", "03") == 0
    assert fake.calls == ["02", "03"]
    (model / "config.json").write_text('{"a": 2}')  # the model changed: 03 again, 02 not
    assert _batch(params, runs, "02", "03") == 0
    assert fake.calls == ["02", "03", "03"]
    defs.write_text(defs.read_text(encoding="utf-8").replace("seven days", "eight days"), encoding="utf-8")
    assert _batch(params, runs, "02", "03") == 0  # the definitions changed: 02, and 03 downstream
    assert fake.calls == ["02", "03", "03", "02", "03"]


def test_big_files_are_digested_by_size_and_mtime(tmp_path, monkeypatch):
    monkeypatch.setattr(runstore, "HASH_LIMIT", 10)
    small, big = tmp_path / "config.json", tmp_path / "model.safetensors"
    small.write_text("{}")
    big.write_bytes(b"0" * 100)
    assert runstore.file_digest(small).startswith("sha256:")
    before = runstore.file_digest(big)
    assert before.startswith("size:100:mtime_ns:")
    os.utime(big, ns=(1, 1))
    assert runstore.file_digest(big) != before
    assert set(runstore.path_digest(tmp_path)) == {"config.json", "model.safetensors"}


def test_unwritable_errors_folder_does_not_crash_the_runner(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "_errors").write_text("a file where the folder should be")
    bad = _params(tmp_path, "bad", cohort_source="jsonl", cohort_path=str(tmp_path / "nowhere.jsonl"))
    assert _batch(bad, runs, "01") == 1  # was: FileExistsError out of the runner's own error handler
    result = json.loads((runs / "batch_summary.json").read_text())[0]
    assert result["status"] == "failed" and "traceback not saved" in result["error"]


# ------------------------------------------------------------------------ 05: prediction files lacking cases
def _run_dir(tmp_path: Path, base: dict, adapter: dict, owed=None) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    _write_cohort(
        run / "cohort.jsonl",
        [
            _case("a"),
            _case("b", gold=[{"complication": "pneumonia", "grade": "mild"}]),
            _case("c"),
            _case("t", split="train"),
        ],
    )
    for folder, strict in (("predictions", False), ("predictions_strict", True)):
        for model, labels in (("base", base), ("adapter", adapter)):
            fix = {k: [f"{x}_Null" if strict else x for x in v] for k, v in labels.items()}
            (run / folder).mkdir(exist_ok=True)
            (run / folder / f"{model}.json").write_text(json.dumps(fix, ensure_ascii=False))
    if owed is not None:
        (run / runstore.REPORT).write_text(json.dumps({"case_ids": owed, "complete": True}))
    return run


def test_05_refuses_an_adapter_file_lacking_a_case(tmp_path):
    from pericomp_lib.evaluation import run_scores

    none = ["无术后并发症"]
    run = _run_dir(tmp_path, {"a": none, "b": none, "c": none}, {"a": none, "b": none})
    with pytest.raises(ValueError, match=r"adapter\.json: lacks 1 evaluation case"):  # was: scored on 2 cases
        run_scores.evaluate_run(run)


def test_05_refuses_files_lacking_a_case_04_owed(tmp_path):
    from pericomp_lib.evaluation import run_scores

    none = ["无术后并发症"]
    run = _run_dir(tmp_path, {"a": none, "b": none}, {"a": none, "b": none}, owed=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"lacks 1 evaluation case"):
        run_scores.evaluate_run(run)


def test_05_reports_extra_ids_unknown_labels_and_empty_answers(tmp_path):
    from pericomp_lib.evaluation import run_scores

    none = ["无术后并发症"]
    run = _run_dir(tmp_path, {"a": ["贫血"], "b": [], "c": none, "zz": none}, {"a": none, "b": none, "c": none})
    with pytest.warns(UserWarning) as seen:
        df = run_scores.evaluate_run(run)
    text = "\n".join(str(w.message) for w in seen)
    assert "1 case id(s) that are not evaluation cases, ignored: zz" in text
    assert "naming none of the 22 complications" in text and "贫血" in text
    assert "1 case(s) with no answer (empty label list): b" in text
    assert set(df.n_cases) == {3}


def test_format_results_reports_cases_without_answers(tmp_path, capsys):
    from pericomp_lib.__main__ import main

    good = '{"think": "", "bool": "False", "grading": "Null"}'
    raw = {"1": {"肺炎": good, "谵妄": good}, "2": {}, "3": {"肺炎": good}}
    src = tmp_path / "x_targeted.json"
    src.write_text(json.dumps(raw, ensure_ascii=False))
    assert main(["format-results", str(src), "-o", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "1 case(s) with no answers at all, counted as no complication: 2" in out
    assert "1 case(s) with fewer answers than the usual 2: 3 (1)" in out


@pytest.mark.parametrize("command", ["evaluate", "format-results", "baseline"])
def test_unwritable_output_is_one_line_and_exit_2(tmp_path, capsys, command):
    from pericomp_lib.__main__ import main

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = blocker / "out"
    if command == "evaluate":
        run = _run_dir(tmp_path, {}, {})
        (run / "tables").mkdir()
        (run / "tables" / "run_metrics.csv").write_text("Models,averaging,mode,F1_score\n")
        (tmp_path / "runs" / "r").mkdir(parents=True)
        os.rename(run, tmp_path / "runs" / "r" / "seed-1")
        argv = ["evaluate", "--runs-dir", str(tmp_path / "runs"), "--out", str(out)]
    elif command == "format-results":
        src = tmp_path / "x_targeted.json"
        src.write_text(json.dumps({"1": {"肺炎": '{"bool": "False", "grading": "Null"}'}}, ensure_ascii=False))
        argv = ["format-results", str(src), "-o", str(out / "x.json")]
    else:
        cohort = _write_cohort(
            tmp_path / "c.jsonl",
            [_case(f"t{i}", split="train") for i in range(4)]
            + [_case("v", gold=[{"complication": "pneumonia", "grade": "mild"}])],
        )
        argv = ["baseline", "--cohort", str(cohort), "--out", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.strip().count("\n") == 0
    assert captured.err.startswith(f"error: {out}") and "Not a directory" in captured.err
    assert "move that file away or choose another folder with the command's output option" in captured.err


# ------------------------------------------------------------------------- resume never passes max_steps (8)
@pytest.mark.slow
def test_resume_never_trains_past_max_steps_nor_on_other_data(tmp_path):
    from pericomp_lib.training import finetune
    from test_training import _examples, _log, _params

    out = tmp_path / "t"
    finetune.train_examples(_params(max_steps=5), _examples(), out)  # leaves checkpoints/checkpoint-5
    again = finetune.train_examples(_params(max_steps=4), _examples(), out)
    assert again["steps"] == 4 and again["resumed_from"] is None  # was: resumed checkpoint-5, 5 steps logged
    assert [r["step"] for r in _log(out)] == [1, 2, 3, 4]
    other = [{**ex, "completion": ex["completion"].replace("True", "False")} for ex in _examples()]
    changed = finetune.train_examples(_params(max_steps=4), other, out)  # was: "resumed" at step 4, 0 steps on it
    assert changed["resumed_from"] is None and changed["steps"] == 4
    # the same run again resumes its own final checkpoint and trains nothing more
    same = finetune.train_examples(_params(max_steps=4), other, out)
    assert same["resumed_from"].endswith("checkpoint-4") and [r["step"] for r in _log(out)] == [1, 2, 3, 4]


# --------------------------------------------------------------------------------- Chinese end to end (G)
@pytest.mark.notebook
def test_tiny_random_in_chinese_runs_01_to_05_offline(tmp_path, capsys):
    """language: zh with nothing beside the clone: the packaged zh definitions carry prompts, training and
    inference; before issue 14, stage 02 stopped with 'no packaged definitions for language zh'."""
    params, runs = _params(tmp_path, "tiny-zh", language="zh"), tmp_path / "runs"
    code = batch.cli(["--params", str(params), "--seeds", "1", "--runs-dir", str(runs)])
    out = capsys.readouterr().out
    assert code == 0, out
    run = runs / "tiny-zh" / "seed-1"
    cases = records.load_cohort(run / "cohort.jsonl")
    assert {c.language for c in cases} == {"zh"} and any("术后" in c.record for c in cases)
    prompts_file = json.loads((run / "targeted_prompts.json").read_text(encoding="utf-8"))
    first = next(iter(prompts_file.values()))
    text = first if isinstance(first, str) else json.dumps(first, ensure_ascii=False)
    assert "心电图证实的心脏节律紊乱" in text  # criteria from pericomp_lib/data/definitions_zh.md
    assert json.loads((run / runstore.REPORT).read_text())["complete"] is True
    import pandas as pd

    table = pd.read_csv(run / "tables" / "run_metrics.csv")
    assert {"base", "adapter"} <= set(table.Models)
