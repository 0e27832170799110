"""The second study's model side: training on conversations, QA by subject, resumable trials, the summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pericomp_lib.chartqa import qa, report, trials
from pericomp_lib.cohort.mimic import ingest, make_fixture
from pericomp_lib.core.params import load_params
from pericomp_lib.pipeline.stages import stages_for

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "params" / "tiny-random-chartqa.yaml"


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory) -> Path:
    """A run folder holding subjects.jsonl of a 60-subject FAKE fixture."""
    run = tmp_path_factory.mktemp("qa_run")
    fx = make_fixture(run / "fixture", n_subjects=60, seed=1)
    ingest(fx, run)
    return run


@pytest.fixture(scope="module")
def tiny(qa_run):
    params = load_params(TINY)
    return params, qa.load(params, qa_run)


def test_a_conversation_trains_on_the_assistant_turn_only():
    from pericomp_lib.llm import models
    from pericomp_lib.training.train_inputs import TrainingError, tokenize_examples

    tok = models.load_tokenizer(models.resolve_model("tiny-random"))
    turns = [
        {"role": "system", "content": "You answer from the patient's chart."},
        {"role": "user", "content": "Patient context:\n- Age: 61\n\nQuestion: I feel dizzy."},
        {"role": "assistant", "content": "What you can try now:\n- Sit down slowly."},
    ]
    (ex,) = tokenize_examples(tok, [{"case_id": "7", "messages": turns}])
    head, answer = tok.decode(ex.head), tok.decode(ex.answer)
    assert "You answer from the patient's chart." in head and "Question: I feel dizzy." in head
    assert answer.startswith("What you can try now:") and "Age: 61" not in answer
    with pytest.raises(TrainingError, match="example 0: messages must end with a user turn"):
        tokenize_examples(tok, [{"case_id": "7", "messages": turns[:1] + turns[2:]}])


def test_qa_by_subject_answers_from_that_subjects_context(qa_run, tiny):
    params, loaded = tiny
    subjects = qa.load_subjects(qa_run / "subjects.jsonl")
    sid = sorted(subjects)[3]
    ans = qa.ask(params, qa_run, sid, "I feel short of breath when I walk. What should I do?", loaded=loaded)
    assert ans.subject_id == sid and ans.model == "base"  # no adapter trained in this folder
    assert f"Age: {subjects[sid]['anchor_age']}" in ans.context
    assert ans.n_tokens <= params["qa_max_new_tokens"] and ans.prompt_tokens > 20
    assert "Question: I feel short of breath" in qa.show(ans)


def test_qa_refuses_bad_input_with_one_clear_line(qa_run, tiny):
    params, loaded = tiny
    with pytest.raises(qa.QAError, match=r"subjects\.jsonl: subject 123 not found"):
        qa.ask(params, qa_run, 123, "Is this normal?", loaded=loaded)
    with pytest.raises(qa.QAError, match="the question is empty"):
        qa.ask(params, qa_run, sorted(qa.load_subjects(qa_run / "subjects.jsonl"))[0], "  ", loaded=loaded)
    model, tok, _ = loaded
    with pytest.raises(qa.QAError, match="the question alone takes"):
        qa.fit_prompt(tok, "Patient context:\n- Age: 50", "why " * 400, limit=256, max_new_tokens=16)


def test_a_long_context_is_cut_and_the_cut_is_said(tiny, caplog):
    _, (model, tok, _) = tiny
    context = "Patient context:\n" + "\n".join(f"- Line {i}: " + "word " * 20 for i in range(40))
    with caplog.at_level("WARNING"):
        prompt, used, cut = qa.fit_prompt(tok, context, "Is this normal?", limit=400, max_new_tokens=50)
    assert cut and "context cut to its first" in cut and cut in caplog.text
    assert len(tok(prompt, add_special_tokens=False)["input_ids"]) <= 350
    assert context.startswith(used) and len(used) < len(context)


def test_a_4bit_base_dequantized_for_the_cpu_answers_exactly_as_4bit(qa_run, tiny):
    from pericomp_lib.llm.models import load_model
    from pericomp_lib.prompting.chat import chat_messages_text

    params, (fast, tok, _) = tiny
    assert type(fast.model.layers[0].self_attn.q_proj).__name__ == "Linear"  # qa.load dequantized it
    slow, _ = load_model(params, adapter="")
    assert type(slow.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"
    prompts = [
        chat_messages_text(tok, [{"role": "user", "content": f"Question {i}: is this normal?"}]) for i in range(3)
    ]
    assert qa.generate(fast, tok, prompts, 12)[0][:2] == qa.generate(slow, tok, prompts, 12)[0][:2]
    assert [a[0] for a in qa.generate(fast, tok, prompts, 12)] == [a[0] for a in qa.generate(slow, tok, prompts, 12)]


def test_cli_prints_the_context_and_answer(qa_run, capsys):
    sid = sorted(qa.load_subjects(qa_run / "subjects.jsonl"))[0]
    argv = ["--run-dir", str(qa_run), "--params", str(TINY), "--subject-id", str(sid), "--question", "Can I shower?"]
    assert qa.cli(argv) == 0
    out = capsys.readouterr().out
    assert "Patient context" in out and "Answer (base" in out
    assert qa.cli([*argv[:5], "999", "--question", "Can I shower?"]) == 2
    assert "subject 999 not found" in capsys.readouterr().err


def test_trials_resume_to_identical_rows(qa_run, tiny):
    params, loaded = tiny
    first = trials.run_trials(params, qa_run, loaded=loaded, progress=False)
    assert len(first) == params["qa_trials"] and first["base_must_have_recall"].between(0, 1).all()
    raw = qa_run / trials.RAW
    lines = raw.read_text(encoding="utf-8").splitlines(keepends=True)
    raw.write_text("".join(lines[:-2]) + lines[-2][: len(lines[-2]) // 2], encoding="utf-8")  # killed mid-write
    (qa_run / trials.TABLE).unlink()
    again = trials.run_trials(params, qa_run, loaded=loaded, progress=False)
    pd.testing.assert_frame_equal(first.drop(columns=["base_latency_s"]), again.drop(columns=["base_latency_s"]))
    assert len(raw.read_text(encoding="utf-8").splitlines()) == len(lines)


def test_trials_draw_validation_subjects_round_robin(qa_run):
    from pericomp_lib.chartqa import questions
    from pericomp_lib.chartqa.context import patient_context
    from pericomp_lib.chartqa.topics import matching_topics
    from pericomp_lib.cohort.mimic import subject_split

    subjects = qa.load_subjects(qa_run / "subjects.jsonl")
    guidance = questions.load_questions()
    by_id = {q["id"]: q for q in guidance}
    drawn = trials.draw_trials(subjects, guidance, 12, seed=3)
    assert all(subject_split(t.subject_id, 3) == "validation" for t in drawn)
    assert drawn == trials.draw_trials(subjects, guidance, 12, seed=3)
    for t in drawn:  # round-robin from question i, to the first topic the chart fires (if any)
        fired = {x.id for x in matching_topics(patient_context(subjects[t.subject_id]).facts)}
        ids = [q["id"] for q in guidance]
        start = t.trial % len(ids)
        expect = next((i for i in ids[start:] + ids[:start] if by_id[i]["topic"] in fired), ids[start])
        assert t.question_id == expect


def test_paired_bootstrap_of_the_mean_difference():
    base = np.array([0.2, 0.4, 0.1, 0.3] * 10)
    adapter = base + 0.5
    d, lo, hi = report.paired_mean_delta(base, adapter)
    assert (d, lo, hi) == pytest.approx((0.5, 0.5, 0.5))
    noisy = report.paired_mean_delta(base, base + np.tile([0.4, -0.2], 20), seed=1)
    assert noisy[1] < noisy[0] < noisy[2]


def test_summary_writes_table_and_keys(tmp_path):
    rows = [
        {
            "trial": i,
            "base_must_have_recall": 0.2,
            "adapter_must_have_recall": 0.8,
            "base_words": 10,
            "adapter_words": 90,
        }
        for i in range(6)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / trials.TABLE, index=False)
    table, summary = report.write_summary(tmp_path)
    assert (tmp_path / "tables" / "qa_summary.csv").exists()
    assert summary["qa_must_have_recall_delta"] == pytest.approx(0.6)
    assert json.loads((tmp_path / "summary.json").read_text())["n_trials"] == 6


def test_each_study_has_its_own_stages():
    assert stages_for({"study": "chart_qa"}) == ["01b", "02b", "03b", "04b", "05b"]
    assert stages_for({"study": "complications"}, ["03", "01"]) == ["01", "03"]
    with pytest.raises(ValueError, match="not stages of study 'chart_qa'"):
        stages_for({"study": "chart_qa"}, ["03"])


@pytest.mark.notebook
def test_the_study_runs_01b_to_05b_through_the_batch_runner_then_skips(tmp_path, capsys):
    from pericomp_lib.figures import run_figures
    from pericomp_lib.pipeline import batch

    runs = tmp_path / "runs"
    argv = ["--params", str(TINY), "--seeds", "2", "--runs-dir", str(runs)]
    assert batch.cli(argv) == 0, capsys.readouterr().out
    run = runs / "tiny-random-chartqa" / "seed-2"
    for name in (
        "subjects.jsonl",
        "qa_pairs.jsonl",
        "column_importance.csv",
        "adapter/adapter_config.json",
        "validation.csv",
        "tables/qa_summary.csv",
        "qa_trials.png",
    ):
        assert (run / name).exists(), name
    table = pd.read_csv(run / "validation.csv")
    assert len(table) == 6 and {"base_answer", "adapter_answer", "adapter_must_have_recall"} <= set(table.columns)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["study"] == "chart_qa" and "qa_must_have_recall_delta_ci_low" in summary
    assert run_figures.run_kinds(runs) == {"complications": False, "chart_qa": True}
    assert batch.cli(argv) == 0  # everything up to date: nothing runs again
    (result,) = json.loads((runs / "batch_summary.json").read_text())
    assert result["skipped"] == ["01b", "02b", "03b", "04b", "05b"]
