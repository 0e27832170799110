"""Packed targeted training is exact: same per-example losses and gradients as one example per row."""

from __future__ import annotations

import pytest
import torch

from pericomp_lib.training.packing import (
    IGNORE,
    Collator,
    TokenizedExample,
    answer_loss,
    block_mask,
    packed_rows,
    unpacked_row,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two OpenMP threads on a busy 2-core machine spin-wait; one thread is several times faster here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _examples(n_cases=2, n_q=3, seed=0):
    g = torch.Generator().manual_seed(seed)

    def ids(n):
        return torch.randint(10, 4000, (n,), generator=g).tolist()

    out = []
    for c in range(n_cases):
        head = ids(int(torch.randint(12, 20, (1,), generator=g)))
        for q in range(n_q):
            out.append(
                TokenizedExample(
                    f"case{c}",
                    f"q{q}",
                    head,
                    ids(int(torch.randint(3, 9, (1,), generator=g))),
                    ids(int(torch.randint(2, 6, (1,), generator=g))),
                )
            )
    return out


def test_block_mask_semantics():
    seg = torch.tensor([[0, 0, 1, 1, 2, 2, -1]])
    allowed = block_mask(seg)[0, 0] == 0
    assert allowed[3].tolist() == [True, True, True, True, False, False, False]  # head + own block, causal
    assert allowed[4].tolist() == [True, True, False, False, True, False, False]  # never the other block
    assert allowed[1].tolist() == [True, True, False, False, False, False, False]  # head stays causal
    assert allowed[6].tolist() == [False] * 6 + [True]  # padding sees only itself (no NaN rows)


def test_packed_rows_layout_and_max_len():
    exs = _examples(n_cases=2, n_q=3)
    rows = packed_rows(exs, max_len=10_000)
    assert len(rows) == 2 and [r["n_examples"] for r in rows] == [3, 3]
    r, head = rows[0], exs[0].head
    assert r["input_ids"][: len(head)] == head
    first = exs[0].tail + exs[0].answer
    assert r["position_ids"][len(head) : len(head) + len(first)] == list(range(len(head), len(head) + len(first)))
    assert r["position_ids"][len(head) + len(first)] == len(head)  # every block restarts after the head
    assert sum(lab != IGNORE for lab in r["labels"]) == sum(len(e.answer) for e in exs[:3])
    assert sum(len(x["input_ids"]) for x in rows) < sum(len(e) for e in exs)
    tight = packed_rows(exs, max_len=len(exs[0]) + 2)  # room for one block per row: head repeats
    assert len(tight) == 6 and all(x["n_examples"] == 1 for x in tight)


def _per_token_nll(logits, labels):
    logp = torch.log_softmax(logits[:, :-1].float(), -1)
    tgt = labels[:, 1:]
    nll = -logp.gather(-1, tgt.clamp(min=0)[..., None])[..., 0]
    return nll, tgt != IGNORE


def _per_example_losses(model, batch, rows):
    logits = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]
    ).logits
    nll, keep = _per_token_nll(logits, batch["labels"])
    seg = torch.tensor([r["segments"] + [-1] * (batch["input_ids"].shape[1] - len(r["segments"])) for r in rows])[:, 1:]
    losses = []
    for b, r in enumerate(rows):
        for k in range(1, r["n_examples"] + 1) if r["n_examples"] > 1 else [0]:
            sel = keep[b] & (seg[b] == k)
            losses.append(nll[b][sel].mean())
    return torch.stack(losses)


def _lora_tiny():
    from peft import LoraConfig, get_peft_model

    from pericomp_lib.llm.models import load_model

    model, _ = load_model(
        {"model_name_or_path": "tiny-random", "dtype": "float32", "device": "cpu"},
        for_training=True,
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    model = get_peft_model(
        model,
        LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
            lora_dropout=0.0,
            init_lora_weights=False,
        ),
    )
    model.train()
    return model


def test_packed_equals_unpacked_losses_and_gradients():
    model = _lora_tiny()
    exs = _examples(n_cases=2, n_q=3)
    collate = Collator(pad_id=0)
    plain = [unpacked_row(e) for e in exs]
    packed = packed_rows(exs, max_len=10_000)

    loss_plain = _per_example_losses(model, collate(plain), plain)
    loss_packed = _per_example_losses(model, collate(packed), packed)
    assert loss_plain.shape == loss_packed.shape == (len(exs),)
    torch.testing.assert_close(loss_packed, loss_plain, atol=1e-4, rtol=1e-4)

    def reference_grads():  # the stock causal-LM loss: full logits, prompt labels -100, mean over tokens
        model.zero_grad()
        b = collate(plain)
        out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"])
        out.loss.backward()
        return out.loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    def packed_grads():  # what training runs: packed rows, logits only at answer positions
        model.zero_grad()
        loss_sum, n, _ = answer_loss(model, collate(packed))
        (loss_sum / n).backward()
        return (loss_sum / n).detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    (l_ref, g_ref), (l_packed, g_packed) = reference_grads(), packed_grads()
    torch.testing.assert_close(l_packed, l_ref, atol=1e-4, rtol=1e-4)
    assert g_ref and g_ref.keys() == g_packed.keys()
    assert any(g.abs().max() > 1e-6 for g in g_ref.values())
    for name in g_ref:
        torch.testing.assert_close(g_packed[name], g_ref[name], atol=1e-4, rtol=1e-3, msg=name)


def test_positive_weight_multiplies_each_answer_loss_and_weight_one_is_the_plain_loss():
    from dataclasses import replace

    model = _lora_tiny()
    exs = _examples(n_cases=2, n_q=3)
    weighted = [replace(e, weights=(3.0 if i % 3 == 0 else 1.0,) * len(e.answer)) for i, e in enumerate(exs)]
    collate = Collator(pad_id=0)
    assert "shift_weights" not in collate(packed_rows(exs, 10_000))  # every weight 1: the unweighted path
    rows = packed_rows(weighted, 10_000)
    batch = collate(rows)
    assert "shift_weights" in batch
    with torch.no_grad():
        got, n, _ = answer_loss(model, batch)
        per_example = _per_example_losses(model, collate(rows), rows)  # mean loss per example
    sums = per_example * torch.tensor([float(len(e.answer)) for e in weighted])
    want = (sums * torch.tensor([e.weights[0] for e in weighted])).sum()
    assert n == sum(len(e.answer) for e in exs)
    torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-4)
    plain = [unpacked_row(e) for e in weighted]  # unpacked rows carry the same weights
    with torch.no_grad():
        torch.testing.assert_close(answer_loss(model, collate(plain))[0], want, atol=1e-3, rtol=1e-4)


def test_collator_keeps_only_answer_logits():
    exs = _examples(n_cases=1, n_q=3)
    b = Collator(pad_id=0)(packed_rows(exs, 10_000))
    n_answer = sum(len(e.answer) for e in exs)
    assert b["shift_labels"].ne(IGNORE).sum() == n_answer == len(b["logits_to_keep"])
    assert b["n_tokens"].tolist() == [b["input_ids"].shape[1]]


def test_cross_block_leak_would_be_caught():
    """Guard against a vacuous test: without the block mask the packed losses differ."""
    model = _lora_tiny()
    exs = _examples(n_cases=1, n_q=3, seed=1)
    collate = Collator(pad_id=0)
    packed = packed_rows(exs, max_len=10_000)
    plain = [unpacked_row(e) for e in exs]
    b = collate(packed)
    b["attention_mask"] = torch.ones_like(b["input_ids"])  # plain causal: blocks see each other
    with torch.no_grad():
        leaky = _per_example_losses(model, b, packed)
        ref = _per_example_losses(model, collate(plain), plain)
    assert not torch.allclose(leaky, ref, atol=1e-4)


@pytest.mark.slow
def test_trl_trainer_trains_packed_exactly_like_unpacked(tmp_path):
    """End to end through training.fit (trl.SFTTrainer + Collator + answer loss): one packed row and the
    same three examples as a batch of three rows give the same losses and the same trained adapter."""
    from pericomp_lib.core.params import validate
    from pericomp_lib.core.records import Case, GoldLabel
    from pericomp_lib.prompting import sft_data
    from pericomp_lib.prompting.definitions import load_definitions
    from pericomp_lib.training import finetune

    case = Case(
        "t0",
        "test",
        "train",
        "en",
        "Day 2: confused and agitated at night, CAM-ICU positive.",
        [GoldLabel("delirium", "mild", ["CAM-ICU positive"])],
    )
    examples = sft_data.sft_examples(
        [case], "targeted", load_definitions(None), "shared_prefix", ["delirium", "pneumonia", "stroke"]
    )
    losses, weights = {}, {}
    for packing in (True, False):
        params = validate(
            {
                "run_name": "t",
                "model_name_or_path": "tiny-random",
                "dtype": "float32",
                "device": "cpu",
                "prompt_layout": "shared_prefix",
                "packing": packing,
                "batch_size": 1 if packing else 3,
                "grad_accum": 1,
                "max_steps": 2,
                "learning_rate": 1e-2,
                "lora_dropout": 0.0,
                "gradient_checkpointing": False,
                "max_seq_len": 8192,
            }
        )
        summary, model = finetune.fit(params, examples, tmp_path / str(packing))
        assert summary["n_rows"] == (1 if packing else 3) and summary["n_trained_examples"] == 3
        losses[packing] = torch.tensor([r["loss"] for r in _log(tmp_path / str(packing))])
        weights[packing] = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert len(losses[True]) == 2
    torch.testing.assert_close(losses[True], losses[False], atol=1e-5, rtol=1e-5)
    for name, w in weights[False].items():
        torch.testing.assert_close(weights[True][name], w, atol=1e-5, rtol=1e-4, msg=name)


def _log(out):
    import json

    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_decision_and_positive_weights_fall_on_the_right_answer_tokens():
    from pericomp_lib.llm import models
    from pericomp_lib.training.train_inputs import tokenize_examples

    tok = models.load_tokenizer("tiny-random")
    exs = [
        {
            "case_id": "c1",
            "prompt": "p",
            "completion": '{"bool": "True", "grading": "mild", "think": "t"}',
            "positive": True,
        },
        {"case_id": "c2", "prompt": "p", "completion": '{"think": "t", "bool": "False", "grading": "Null"}'},
        {
            "case_id": "c3",
            "prompt": "p",
            "completion": '[{"name": "No postoperative complication", "grading": "Null"}]',
        },
    ]
    assert all(e.weights is None for e in tokenize_examples(tok, exs))  # the paper: every answer token alike
    weighted = tokenize_examples(tok, exs, positive_weight=3.0, decision_weight=10.0)
    for e, word, base in zip(weighted, ("True", "False", None), (3.0, 1.0, 1.0)):
        assert len(e.weights) == len(e.answer) and min(e.weights) == base
        heavy = "".join(tok.decode([t]) for t, w in zip(e.answer, e.weights) if w > base)
        assert heavy.strip() == (word or ""), (heavy, word)
        assert max(e.weights) == (base * 10 if word else base)
    # quote_weight: the think's first token too ("none" or the record's first word: where evidence_first decides)
    quoted = tokenize_examples(tok, exs, positive_weight=3.0, decision_weight=10.0, quote_weight=5.0)
    for e, plain, think in zip(quoted, weighted, ("t", "t", None)):
        more = [(tok.decode([t]), w / v) for t, w, v in zip(e.answer, e.weights, plain.weights) if w != v]
        assert [(text.strip('" '), factor) for text, factor in more] == ([(think, 5.0)] if think else []), more


def test_trap_weight_falls_on_negatives_with_a_look_alike_only():
    from pericomp_lib.llm import models
    from pericomp_lib.training.train_inputs import tokenize_examples

    tok = models.load_tokenizer("tiny-random")
    answer = '{"think": "t", "bool": "False", "grading": "Null"}'
    exs = [
        {"case_id": "c1", "prompt": "p", "completion": answer, "trap": True},
        {"case_id": "c2", "prompt": "p", "completion": answer, "trap": False},
        {"case_id": "c3", "prompt": "p", "completion": answer.replace("False", "True"), "positive": True},
    ]
    weighted = tokenize_examples(tok, exs, positive_weight=3.0, trap_weight=2.0)
    assert [min(e.weights) for e in weighted] == [2.0, 1.0, 3.0]
    assert all(max(e.weights) == min(e.weights) for e in weighted)  # no decision_weight: one weight per answer


def test_sft_rows_flag_trap_negatives_from_the_cohort_meta():
    from pericomp_lib.cohort.synthetic import generate_cohort
    from pericomp_lib.prompting.definitions import load_definitions
    from pericomp_lib.prompting.sft_data import sft_examples

    cases = generate_cohort(40, language="en", seed=5, difficulty=0.8)
    rows = sft_examples(cases, "targeted", load_definitions(None, language="en"), "shared_prefix")
    by_case = {c.case_id: c for c in cases}
    flagged = [r for r in rows if r["trap"]]
    assert flagged, "difficulty 0.8 lays traps in 40 cases"
    for r in rows:
        case = by_case[r["case_id"]]
        laid = bool(case.meta.get("trap_for", {}).get(r["complication"]))
        assert r["trap"] == (laid and not r["positive"]), r["case_id"]
