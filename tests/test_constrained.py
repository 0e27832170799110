"""Schema-constrained decoding (llguidance), P(True) at the decision, operating points, paired F1 deltas."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import constrained_params, lively_llama
from pericomp_lib.cohort.synthetic import generate_cohort
from pericomp_lib.evaluation import decisions, metrics
from pericomp_lib.inference import constrained, parsing
from pericomp_lib.inference import decoding as dec
from pericomp_lib.inference import runner as inf
from pericomp_lib.inference.jobs import build_jobs, grammar_for
from pericomp_lib.llm import models
from pericomp_lib.prompting import definitions, prompts

COMPS = ["paralytic_ileus", "delirium", "stroke"]


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer("tiny-random")


@pytest.fixture(scope="module")
def lively(tok):
    """A random Llama with large weights: greedy choices change from token to token, so the schema really
    has to steer it (the built-in tiny-random repeats one token)."""
    return lively_llama(tok, seed=5, max_position_embeddings=8192)


@pytest.fixture(scope="module")
def defs():
    return definitions.load_definitions(None, "en")


def _params(**kw):
    return constrained_params(**{"complications": COMPS, **kw})


def _answers(model, tok, jobs, grammar, max_new, shared=True, cascade=None):
    """{(case, item): (text, p_true)} answering jobs with a shared head or one whole prompt at a time."""
    out = {}
    by_case: dict = {}
    for j in jobs:
        by_case.setdefault(j.head, []).append(j)
    for head_text, group in by_case.items():
        head = inf._ids(tok, head_text)
        tails = [inf._ids(tok, j.tail) for j in group]

        def keep(row, ids, seconds, p, group=group):
            out[(group[row].case_id, group[row].item)] = (tok.decode(ids, skip_special_tokens=True), p)

        if shared:
            dec.generate_shared(
                model, tok, head, tails, max_new, on_done=keep, grammar=grammar, cascade_attention=cascade
            )
        else:
            for i, t in enumerate(tails):
                dec.generate_full(
                    model,
                    tok,
                    [head + t],
                    max_new,
                    grammar=grammar,
                    on_done=lambda r, ids, s, p, i=i, group=group: out.__setitem__(
                        (group[i].case_id, group[i].item), (tok.decode(ids, skip_special_tokens=True), p)
                    ),
                )
    return out


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["decision_first", "paper"])
def test_constrained_targeted_always_parses(lively, tok, defs, layout):
    p = _params(answer_layout=layout)
    cases = generate_cohort(3, seed=11, record_length="compact")
    jobs = build_jobs(cases, tok, defs, p)
    got = _answers(lively, tok, jobs, grammar_for(tok, p, defs), p["max_new_tokens"])
    assert len(got) == 9
    for text, p_true in got.values():
        answer = parsing.parse_targeted(text)
        assert answer.error is None, text
        assert list(json.loads(text)) == list(prompts.ANSWER_KEYS[layout])
        assert p_true is not None and 0.0 <= p_true <= 1.0


def test_free_generation_of_the_same_model_does_not_parse(lively, tok, defs):
    """The check above can fail: without the schema the same model writes text that is not an answer."""
    p = _params(constrained=False)
    cases = generate_cohort(2, seed=11, record_length="compact")
    jobs = build_jobs(cases, tok, defs, p)
    got = _answers(lively, tok, jobs, None, 40)
    assert all(parsing.parse_targeted(text).error is not None for text, _ in got.values())


def test_p_true_is_the_softmax_of_the_logits_at_the_decision(lively, tok, defs):
    p = _params()
    case = generate_cohort(1, seed=3, record_length="compact")[0]
    job = build_jobs([case], tok, defs, p)[0]
    got = _answers(lively, tok, [job], grammar_for(tok, p, defs), p["max_new_tokens"])
    _, recorded = got[(job.case_id, job.item)]
    # independently: the prompt, the schema's opening up to the decision, one forward pass
    ids = inf._ids(tok, job.head) + inf._ids(tok, job.tail) + tok('{"bool": "', add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = lively(input_ids=torch.tensor([ids])).logits[0, -1].float()
    vocab = {tid: tok.convert_tokens_to_string([piece]) for piece, tid in tok.get_vocab().items()}
    t = [i for i, s in vocab.items() if s and "True".startswith(s)]
    f = [i for i, s in vocab.items() if s and "False".startswith(s)]
    probs = torch.softmax(logits[t + f], dim=-1)
    expected = float(probs[: len(t)].sum())
    assert recorded == pytest.approx(expected, abs=1e-5)
    assert 0.001 < expected < 0.999  # a real choice, not a forced one


def test_shared_prefix_equals_one_prompt_at_a_time_under_the_schema(lively, tok, defs):
    p = _params()
    cases = generate_cohort(2, seed=4, record_length="compact")
    jobs = build_jobs(cases, tok, defs, p)
    grammar = grammar_for(tok, p, defs)
    alone = _answers(lively, tok, jobs, grammar, p["max_new_tokens"], shared=False)
    for cascade in (True, False):  # the head read once for all rows, or copied into each
        shared = _answers(lively, tok, jobs, grammar, p["max_new_tokens"], shared=True, cascade=cascade)
        assert [v[0] for v in shared.values()] == [alone[k][0] for k in shared]
        for k in shared:
            assert shared[k][1] == pytest.approx(alone[k][1], abs=1e-4)


def test_jump_forward_feeds_forced_spans_without_a_step_each(lively, tok, defs):
    p = _params()
    case = generate_cohort(1, seed=8, record_length="compact")[0]
    jobs = build_jobs([case], tok, defs, p)[:1]
    calls = []
    handle = lively.register_forward_hook(lambda *a: calls.append(1))
    try:
        got = _answers(lively, tok, jobs, grammar_for(tok, p, defs), p["max_new_tokens"])
    finally:
        handle.remove()
    text, _ = next(iter(got.values()))
    n_tokens = len(tok(text, add_special_tokens=False).input_ids)
    # one call for the prefix cache, one per decode step: the keys and quotes came without their own step
    assert len(calls) - 1 < n_tokens - 8, (len(calls), n_tokens, text)


def test_constrained_comprehensive_closes_and_parses(lively, tok, defs):
    p = _params(strategy="comprehensive", comprehensive_think=False, max_new_tokens=160, question_style="criteria")
    cases = generate_cohort(2, seed=9, record_length="compact")
    jobs = build_jobs(cases, tok, defs, p)
    assert len({j.head for j in jobs}) == 1  # the definitions are one shared head for every case
    got = _answers(lively, tok, jobs, grammar_for(tok, p, defs), p["max_new_tokens"])
    for text, _ in got.values():
        assert parsing.parse_comprehensive(text).error is None, text


def test_prompt_longer_than_the_context_is_counted_not_generated(tok, defs, tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    from pericomp_lib.inference import runstore

    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = LlamaForCausalLM(cfg).eval()
    p = _params()
    case = generate_cohort(1, seed=2, record_length="compact")[0]
    jobs = build_jobs([case], tok, defs, p)
    store = runstore.RunStore(tmp_path / "raw.jsonl")
    summary = inf.run(model, tok, jobs, p, store, progress=False, grammar=grammar_for(tok, p, defs))
    assert summary.generated == 0 and summary.failed == len(jobs)
    assert "longer than the model's context" in summary.errors[0] and "> 256" in summary.errors[0]


def test_schema_keys_follow_the_answer_layout():
    assert list(constrained.targeted_schema("en", "paper")["properties"]) == ["think", "bool", "grading"]
    assert list(constrained.targeted_schema("zh", "decision_first")["properties"]) == ["bool", "grading", "think"]
    assert constrained.targeted_schema("zh")["properties"]["grading"]["enum"] == ["Null", "轻", "中", "重"]
    with pytest.raises(constrained.ConstraintError, match="answer_layout"):
        constrained.targeted_schema("en", "sideways")


# ------------------------------------------------------------------------------------ operating points
def _decisions(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in (("train", 30), ("eval", 20)):
        for c in range(n):
            for cid in COMPS:
                gold = int(rng.random() < 0.3)
                rows.append(
                    {
                        "split": split,
                        "case_id": f"{split}-{c}",
                        "complication": cid,
                        "model": "adapter",
                        "gold": gold,
                        "p_true": float(np.clip(0.35 * gold + rng.random() * 0.7, 0, 1)),
                    }
                )
    return pd.DataFrame(rows)


def test_operating_points_never_see_evaluation_cases():
    df = _decisions(1)
    points = decisions.operating_points(df)
    moved = df.copy()
    ev = moved.split == "eval"
    moved.loc[ev, "p_true"] = 1 - moved.loc[ev, "p_true"]  # anything on the evaluation cases
    again = decisions.operating_points(moved)
    assert points.threshold.tolist() == again.threshold.tolist()
    assert points.train_sensitivity.tolist() == again.train_sensitivity.tolist()
    assert points.eval_micro_f1.tolist() != again.eval_micro_f1.tolist()  # the evaluation itself did change
    row = points[points.chosen_by == "sensitivity 80% on train"].iloc[0]
    assert row.train_sensitivity >= 0.8


def test_ranking_table_matches_sklearn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    df = _decisions(2)
    table = decisions.ranking_table(df)
    ev = df[df.split == "eval"]
    overall = table[(table.model == "adapter") & (table.complication == "all")].iloc[0]
    assert overall.auroc == pytest.approx(roc_auc_score(ev.gold, ev.p_true))
    assert overall.average_precision == pytest.approx(average_precision_score(ev.gold, ev.p_true))


def test_paired_delta_ci():
    gold = {f"c{i}": (["肺炎"] if i % 3 == 0 else ["无术后并发症"]) for i in range(30)}
    same = metrics.paired_delta_ci(gold, gold, gold)
    assert same == (0.0, 0.0, 0.0)
    floor = {c: ["无术后并发症"] for c in gold}
    delta, lo, hi = metrics.paired_delta_ci(gold, gold, floor, n_boot=500)
    assert delta == pytest.approx(1.0 - metrics.micro_prf(gold, floor)["f1"])
    assert 0 < lo <= delta <= hi


def test_comprehensive_scope_asked_lists_only_the_asked_definitions(tok, defs):
    p = _params(
        strategy="comprehensive", comprehensive_think=False, comprehensive_scope="asked", question_style="criteria"
    )
    case = generate_cohort(1, seed=9, record_length="compact")[0]
    job = build_jobs([case], tok, defs, p)[0]
    assert "1. Delirium" in job.head and "2. Paralytic ileus" in job.head and "3. Stroke" in job.head
    assert "Pneumonia" not in job.head
    assert "one of the 3 predefined complications" in job.head
    names = constrained.schema_for(p, "en")["items"]["properties"]["name"]["enum"]
    assert len(names) == 4 and "No postoperative complication" in names
    full = build_jobs(
        [case], tok, defs, _params(strategy="comprehensive", comprehensive_think=False, question_style="criteria")
    )[0]
    assert "Pneumonia" in full.head and len(tok(full.head).input_ids) > 2 * len(tok(job.head).input_ids)


def test_brief_comprehensive_question_shares_the_targeted_head_and_parses(lively, tok, defs):
    cases = generate_cohort(2, seed=9, record_length="compact")
    targeted = build_jobs(cases, tok, defs, _params())
    p = _params(strategy="comprehensive", comprehensive_think=False, comprehensive_scope="asked", max_new_tokens=160)
    comp = build_jobs(cases, tok, defs, p)
    assert [j.item for j in comp] == ["comprehensive", "comprehensive"]
    for case, job in zip(cases, comp):
        assert job.head == next(j.head for j in targeted if j.case_id == case.case_id)
        assert case.record.strip() in job.head and "Delirium; Paralytic ileus; Stroke" in job.tail
        assert "Pneumonia" not in job.tail and "No postoperative complication" in job.tail
    got = _answers(lively, tok, comp, grammar_for(tok, p, defs), p["max_new_tokens"])
    for text, _ in got.values():
        assert parsing.parse_comprehensive(text).error is None, text


def _rows(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_arms_sharing_a_head_prefill_it_once_with_the_answers_of_separate_runs(
    lively, tok, defs, tmp_path, monkeypatch
):
    from pericomp_lib.inference import runstore

    cases = generate_cohort(2, seed=4, record_length="compact")
    arms = []
    for kw in ({}, {"strategy": "comprehensive", "comprehensive_think": False, "comprehensive_scope": "asked"}):
        p = _params(max_new_tokens=60, **kw)
        arms.append(inf.Arm(build_jobs(cases, tok, defs, p), p, ("base",), grammar_for(tok, p, defs)))
    alone = {}
    for i, arm in enumerate(arms):
        store = runstore.RunStore(tmp_path / f"alone{i}.jsonl")
        inf.run(lively, tok, arm.jobs, arm.params, store, progress=False, grammar=arm.grammar)
        alone.update({(r["case_id"], r["item"]): (r["text"], r["p_true"]) for r in _rows(store.path)})
    calls = []
    real = inf.prefix_cache
    monkeypatch.setattr(inf, "prefix_cache", lambda model, head: calls.append(len(head)) or real(model, head))
    store = runstore.RunStore(tmp_path / "together.jsonl")
    summaries = inf.run_arms(lively, tok, arms, store, progress=False)
    together = {(r["case_id"], r["item"]): (r["text"], r["p_true"]) for r in _rows(store.path)}
    assert len(calls) == len(cases)  # one prefill per case, shared by its 3 targeted and 1 comprehensive jobs
    assert [s.generated for s in summaries] == [3 * len(cases), len(cases)]
    assert together.keys() == alone.keys() and len(together) == 4 * len(cases)
    for key, (text, p_true) in alone.items():
        assert together[key][0] == text, key
        assert (p_true is None and together[key][1] is None) or abs(together[key][1] - p_true) < 1e-5, key
