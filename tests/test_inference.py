"""decoding.py: JSON stop, shared-prefix == one prompt alone, base/adapter from one model; notebook 04."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import lively_llama
from pericomp_lib.inference import decoding as dec
from pericomp_lib.llm import models

TAILS = [
    "Does the patient have acute kidney injury? Answer in JSON.",
    "Pneumonia?",
    "Question about a stroke, written with many more words so that the suffix lengths differ a lot here.",
    "Delirium after surgery: yes or no, and how severe?",
    "Urinary tract infection?",
]


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer("tiny-random")


@pytest.fixture(scope="module")
def lively(tok):
    """A tiny random Llama with large weights, so greedy answers vary from token to token (the built-in
    tiny-random repeats one token, which would make equality tests pass trivially)."""
    return lively_llama(tok, seed=3)


def _head_tails(tok, record="Record: 67-year-old man, colectomy; creatinine 80 -> 190 umol/L on day 2.\n\n"):
    from pericomp_lib.prompting import chat

    pairs = [chat.chat_prefix_suffix(tok, record, q) for q in TAILS]
    head = tok(pairs[0][0], add_special_tokens=False).input_ids
    assert all(p[0] == pairs[0][0] for p in pairs)
    return head, [tok(t, add_special_tokens=False).input_ids for _, t in pairs]


# ---------------------------------------------------------------------------------------- JSON stop
@pytest.mark.parametrize(
    "text,closed",
    [
        ('{"think": "x", "bool": false, "grading": "Null"}', True),
        ('{"think": "a } inside", "bool": true', False),
        ('{"think": "quote \\" and } brace", "bool": true}', True),
        ('Sure! {"a": {"b": 1}}', True),
        ('{"a": {"b": 1}', False),
        ("no json here }", False),
        ('```json\n{"a": "{"}\n```', True),
    ],
)
def test_json_closed(text, closed):
    assert dec.json_closed(text) is closed


def test_json_closed_after_think_marker():
    assert not dec.json_closed('<think>{"draft": 1}</think>', after="</think>")
    assert dec.json_closed('<think>{"draft": 1}</think>\n{"bool": true}', after="</think>")
    # the marker split over two pieces is still found
    s = dec.JsonScanner("</think>")
    assert not s.feed("<think>{}</th") and not s.feed("ink>{") and s.feed("}")


def test_stopping_criteria_token_by_token(tok):
    ids = tok('{"think": "}{", "bool": true} trailing', add_special_tokens=False).input_ids
    stop = dec.JsonAnswerStop(tok, 1)
    flags = [bool(stop(torch.tensor([ids[: i + 1]]))[0]) for i in range(len(ids))]
    text_at_stop = tok.decode(ids[: flags.index(True) + 1])
    assert text_at_stop.rstrip().endswith("true}") and "trailing" not in text_at_stop


# --------------------------------------------------------------------------------- equivalence
def _three_ways(model, tok, head, tails, n, batch=None):
    alone = [dec.generate_full(model, tok, [head + t], n, json_stop=False)[0] for t in tails]
    batched = dec.generate_full(model, tok, [head + t for t in tails], n, json_stop=False)
    cache = dec.prefix_cache(model, head)
    shared: list = []
    step = batch or len(tails)
    for i in range(0, len(tails), step):
        shared += dec.generate_shared(model, tok, head, tails[i : i + step], n, json_stop=False, cache=cache)
    return alone, batched, shared


def test_shared_prefix_equals_one_prompt_alone_tiny(lively, tok):
    head, tails = _head_tails(tok)
    alone, batched, shared = _three_ways(lively, tok, head, tails, 24, batch=2)
    assert len({tuple(a) for a in alone}) > 1, "answers should differ between prompts"
    assert all(len(set(a)) > 3 for a in alone), "answers should not be one repeated token"
    assert batched == alone
    assert shared == alone


@pytest.mark.slow
def test_shared_prefix_equals_one_prompt_alone_smollm2():
    model, tok = models.load_model({"model_name_or_path": "smollm2-135m", "dtype": "float32", "device": "cpu"})
    head, tails = _head_tails(tok)
    alone, batched, shared = _three_ways(model, tok, head, [tails[1], tails[2]], 8)  # short and long tail
    assert batched == alone
    assert shared == alone
    assert any(tok.decode(a).strip() for a in alone)


def test_cascade_attention_equals_a_copied_prefix(lively, tok):
    """The record's cache read once for all rows (cascade) gives the logits and answers of a copy per row,
    and the model gets its own attention back afterwards."""
    import copy

    from pericomp_lib.inference import cascade

    head, tails = _head_tails(tok)
    cache = dec.prefix_cache(lively, head)
    ids, tail_mask = dec._right_aligned(tails, tok.pad_token_id, "cpu")
    mask = torch.cat([tail_mask.new_ones((len(tails), len(head))), tail_mask], dim=1)
    positions = dec._positions(tail_mask, len(head))
    copied = copy.deepcopy(cache)
    copied.batch_repeat_interleave(len(tails))
    with torch.no_grad():
        want = lively(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=copied).logits
        with cascade.attention(lively):
            got = lively(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cascade.SharedPrefixCache(cache),
            ).logits
    real = tail_mask.bool()  # padded positions carry no answer
    assert torch.allclose(got[real], want[real], atol=1e-4)
    assert lively.config._attn_implementation != cascade.NAME
    copy_answers = dec.generate_shared(lively, tok, head, tails, 16, json_stop=False, cascade_attention=False)
    assert dec.generate_shared(lively, tok, head, tails, 16, json_stop=False, cascade_attention=True) == copy_answers
    assert len(cache.layers[0].keys) == 1, "the shared prefix is never copied into the rows"


def test_cascade_prefix_attention_in_slices_equals_all_at_once():
    from pericomp_lib.inference import cascade

    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 37, 8), torch.randn(1, 2, 50, 8), torch.randn(1, 2, 50, 8)
    whole = cascade._attend(q, k, v, None, 0.35)
    sliced = cascade._chunked(q, k, v, 0.35, budget=2 * 50 * 5)  # 5 query rows a slice
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(whole, sliced))
    top, total, weighted = cascade._unmasked(q, k, v, 0.35)  # the fused kernel's (lse, 1, output) form
    assert torch.allclose(weighted / total, whole[2] / whole[1], atol=1e-5)
    assert torch.allclose(top + total.log(), whole[0] + whole[1].log(), atol=1e-5)


def test_cascade_is_chosen_for_many_rows_behind_a_long_head():
    assert dec.use_cascade(2800, [32] * 22)  # targeted questions behind a full record
    assert not dec.use_cascade(300, [600] * 8)  # comprehensive: long records behind short instructions
    assert not dec.use_cascade(900, [35] * 4)  # four questions: copying the head is as cheap


def test_cascade_attention_through_a_peft_adapter(lively, tok):
    from peft import LoraConfig, get_peft_model

    head, tails = _head_tails(tok)
    peft_model = get_peft_model(lively, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    try:
        for which in ("base", "adapter"):
            with dec.variant(peft_model, which):
                alone = [dec.generate_full(peft_model, tok, [head + t], 10, json_stop=False)[0] for t in tails]
                assert (
                    dec.generate_shared(peft_model, tok, head, tails, 10, json_stop=False, cascade_attention=True)
                    == alone
                )
    finally:
        peft_model.unload()


def test_rows_leave_the_batch_when_done(lively, tok):
    head, tails = _head_tails(tok)
    eos = dec.eos_ids(lively, tok)
    done = []
    out = dec.generate_shared(
        lively, tok, head, tails, 6, json_stop=False, on_done=lambda row, ids, s, p_true: done.append((row, list(ids)))
    )
    assert sorted(r for r, _ in done) == list(range(len(tails)))  # each answer handed over exactly once
    assert all(out[r] == ids for r, ids in done)
    assert all(len(o) <= 6 and not (set(o) & eos) for o in out)
    # a short limit for one row equals the prefix of a longer answer
    longer = dec.generate_shared(lively, tok, head, tails, 10, json_stop=False)
    assert all(lg[:6] == o for lg, o in zip(longer, out))


def test_empty_prompt_is_a_clear_error(lively, tok):
    with pytest.raises(ValueError, match="no tokens"):
        dec.generate_full(lively, tok, [[1, 2], []], 4)


# --------------------------------------------------------------------------------- base / adapter
def test_adapter_switch_from_one_model(lively, tok):
    from peft import LoraConfig, get_peft_model

    head, tails = _head_tails(tok)
    ids = torch.tensor([head + tails[0]])
    with torch.no_grad():
        base_logits = lively(input_ids=ids).logits.clone()
    peft_model = get_peft_model(
        lively, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    try:
        with torch.no_grad():
            with dec.variant(peft_model, "adapter"):
                adapted = peft_model(input_ids=ids).logits
            with dec.variant(peft_model, "base"):
                based = peft_model(input_ids=ids).logits
        assert not torch.allclose(adapted, base_logits, atol=1e-4), "a non-zero adapter must change the logits"
        assert torch.allclose(based, base_logits, atol=1e-6), "disabled adapter must give the base logits"
        n_params = sum(p.numel() for p in peft_model.parameters())
        assert n_params < 1.1 * sum(p.numel() for p in peft_model.get_base_model().parameters())  # no second copy
        # generation through the switch: base answers equal those of the unwrapped model
        with dec.variant(peft_model, "base"):
            got = dec.generate_shared(peft_model, tok, head, tails[:2], 8, json_stop=False)
        with peft_model.disable_adapter():
            want = [
                dec.generate_full(peft_model.get_base_model(), tok, [head + t], 8, json_stop=False)[0]
                for t in tails[:2]
            ]
        assert got == want
    finally:
        peft_model.unload()


def test_adapter_variant_needs_an_adapter(lively):
    with pytest.raises(ValueError, match="adapter"), dec.variant(lively, "adapter"):
        pass
    with pytest.raises(ValueError, match="base"), dec.variant(lively, "finetuned"):
        pass


# ------------------------------------------------------------------------------------- notebook
@pytest.mark.notebook
def test_notebook_04_tiny_random(run_notebook, tmp_path):
    from pericomp_lib.cohort import build

    out = tmp_path / "run"
    build.make_cohort("synthetic", n_cases=6, out_dir=out)
    run_notebook(
        "04_inference.ipynb",
        params_path=str(models_root() / "params" / "tiny-random.yaml"),
        run_dir=str(out),
        max_eval_cases=1,
        max_new_tokens=4,
        base_only=True,
        complications=["pneumonia", "delirium", "acute_kidney_injury"],
    )
    preds = json.loads((out / "predictions" / "base.json").read_text(encoding="utf-8"))
    strict = json.loads((out / "predictions_strict" / "base.json").read_text(encoding="utf-8"))
    assert len(preds) == 1 and all(isinstance(v, list) and v for v in preds.values())
    assert set(strict) == set(preds)
    rows = (out / "raw.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 3 and {json.loads(r)["model"] for r in rows} == {"base"}
    assert (out / "side_by_side.csv").read_text(encoding="utf-8").startswith("case_id,complication")


def models_root():
    from conftest import ROOT

    return ROOT
