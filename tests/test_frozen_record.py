"""frozen_record: LoRA on the question and answer tokens, the record read through the base model (training and
inference alike), its per-row caches, and the settings it refuses."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import torch

from conftest import constrained_params, lively_llama
from pericomp_lib.core.records import Case, GoldLabel
from pericomp_lib.inference import decoding, jobs, runner, runstore
from pericomp_lib.llm.models import load_model, load_tokenizer
from pericomp_lib.prompting.definitions import load_definitions
from pericomp_lib.training import finetune, frozen_record, lora, packing
from pericomp_lib.training.train_inputs import TrainingError

COMPLICATIONS = ["delirium", "pneumonia", "paralytic_ileus"]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("tiny-random")


def _cases(n=3):
    rec = "POD 1. Today: no flatus passed yet; confused at night, CAM-ICU positive. Creatinine 84 umol/L.\n"
    return [
        Case(
            f"f{i}",
            "test",
            "train",
            "en",
            rec + f"POD {i + 2}. Today: passing flatus. Bed {i}.",
            [GoldLabel("delirium", "mild", ["confused at night, CAM-ICU positive"])] if i % 2 else [],
        )
        for i in range(n)
    ]


def _params(**kw):
    return constrained_params(
        answer_layout="evidence_first",
        complications=COMPLICATIONS,
        packing=True,
        batch_size=1,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        **{"frozen_record": True, **kw},
    )


def _model(tok, params, layers=3):
    model = lively_llama(tok, seed=7, num_hidden_layers=layers, max_position_embeddings=4096).train()
    return lora.attach_lora(model, params, quantized=False)


def _rows(tok, params):
    examples = finetune.training_examples(params, _cohort_file(params))
    rows, _ = finetune._rows(params, tok, examples)
    return rows


_COHORTS: dict = {}


def _cohort_file(params):
    from pericomp_lib.core.records import write_cohort

    if "path" not in _COHORTS:
        path = Path(tempfile.mkdtemp()) / "cohort.jsonl"
        write_cohort(path, _cases())
        _COHORTS["path"] = path
    return _COHORTS["path"]


def _batch(tok, row):
    b = packing.Collator(tok.pad_token_id, mask_dtype=torch.float32)([row])
    for k in ("labels", "n_tokens"):
        b.pop(k)
    return b


def _nudge(model, scale=0.3):
    """LoRA B starts at 0 (the adapter is then the identity); give it weights so the two ways can differ."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)


def _decode_apart(model, tok, which, head, jobs_, params, cache, grammar):
    """One variant's answers to one case's questions, the way 04 decodes a single variant: {row: (ids, p_true)}."""
    got = {}
    with decoding.variant(model, which):
        decoding.generate_shared(
            model,
            tok,
            head,
            [tok(j.tail, add_special_tokens=False).input_ids for j in jobs_],
            int(params["max_new_tokens"]),
            cache=cache,
            grammar=grammar,
            on_done=lambda row, ids, s, p: got.__setitem__(row, (ids, p)),
        )
    return got


def _reference_loss(model, batch, head_len):
    """The same loss the plain way: the record's KV from the base model (adapter off), then the whole model with
    its adapter on the question and answer blocks, attending to that KV."""
    from transformers import DynamicCache

    ids, pos, mask = batch["input_ids"], batch["position_ids"], batch["attention_mask"]
    if mask.dim() == 2:
        mask = packing.block_mask(torch.tensor([[0] * head_len + [1] * (ids.shape[1] - head_len)]))
    cache = DynamicCache()
    with torch.no_grad(), model.disable_adapter():
        model(input_ids=ids[:, :head_len], position_ids=pos[:, :head_len], past_key_values=cache, use_cache=True)
    out = model(
        input_ids=ids[:, head_len:],
        attention_mask=mask[:, :, head_len:, :],
        position_ids=pos[:, head_len:],
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=batch["logits_to_keep"] - head_len,
    )
    return packing.token_loss(out.logits, batch)


def assert_same_loss_and_grads(model, loss_fn, ref_fn) -> None:
    """loss_fn and ref_fn, each () -> (summed loss, answer tokens), give the same loss and the same gradients."""
    got, want = [], []
    for fn, out in ((loss_fn, got), (ref_fn, want)):
        model.zero_grad()
        loss, n = fn()
        loss.backward()
        out += [loss.detach(), n, {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}]
    assert got[1] == want[1] and torch.allclose(got[0], want[0], rtol=1e-5, atol=1e-5), (got[0], want[0])
    assert got[2].keys() == want[2].keys() and got[2]
    for k in got[2]:
        assert torch.allclose(got[2][k], want[2][k], rtol=1e-4, atol=1e-6), k


@pytest.mark.parametrize("top", [None, 1, 2], ids=["all-layers", "top-1", "top-2"])
def test_cached_loss_equals_the_plain_computation(tok, top):
    """The cached record KV and the cached hidden states below the LoRA layers give the loss and the LoRA
    gradients that reading the record through the base model and the blocks through the adapter give."""
    params = _params(lora_layers=top)
    model = _model(tok, params)
    _nudge(model)
    rows = _rows(tok, params)
    fr = frozen_record.FrozenRecord(model, rows, top)
    for i, row in enumerate(rows):
        batch = _batch(tok, row)
        for _visit in range(2):  # the first visit fills the cache, the second reads it
            assert_same_loss_and_grads(
                model,
                lambda b=batch: fr.answer_loss(model, b, b["rows"])[:2],
                lambda b=batch, i=i: _reference_loss(model, b, fr.heads[i]),
            )
    assert set(fr.store) == set(range(len(rows)))


def test_at_lora_start_it_is_the_papers_loss(tok):
    """With B = 0 the adapter changes nothing, so reading the record through the base model is the usual loss."""
    params = _params(lora_layers=2)
    model = _model(tok, params)
    rows = _rows(tok, params)
    fr = frozen_record.FrozenRecord(model, rows, 2)
    for row in rows:
        batch = _batch(tok, row)
        loss, n, _ = fr.answer_loss(model, batch, batch["rows"])
        plain, n_plain, _ = packing.answer_loss(model, batch)
        assert n == n_plain and torch.allclose(loss, plain, rtol=1e-5, atol=1e-5)


def test_the_record_stays_the_base_models(tok):
    """Nudging LoRA changes the loss, never the cached record KV (it is the base model's)."""
    params = _params(lora_layers=None)
    model = _model(tok, params)
    rows = _rows(tok, params)
    fr = frozen_record.FrozenRecord(model, rows, None)
    batch = _batch(tok, rows[0])
    before, _, _ = fr.answer_loss(model, batch, batch["rows"])
    kv = {i: (k.clone(), v.clone()) for i, (k, v) in fr.store[0][0].items()}
    _nudge(model)
    after, _, _ = fr.answer_loss(model, batch, batch["rows"])
    assert not torch.allclose(before, after)
    for i, (k, v) in fr.store[0][0].items():
        assert torch.equal(k, kv[i][0]) and torch.equal(v, kv[i][1])


def test_refused_settings(tok):
    with pytest.raises(TrainingError, match="packing: true"):
        frozen_record.check({"frozen_record": True, "packing": False, "batch_size": 1})
    with pytest.raises(TrainingError, match="batch_size: 1"):
        frozen_record.check({"frozen_record": True, "packing": True, "batch_size": 2})
    with pytest.raises(TrainingError, match="DDP"):
        frozen_record.check({"frozen_record": True, "packing": True, "batch_size": 1}, world_size=2)
    frozen_record.check({"frozen_record": False, "packing": False, "batch_size": 4})  # the paper's way: no check


@pytest.mark.slow
def test_trains_and_answers_from_one_base_prefill(tok, tmp_path, monkeypatch):
    """03 trains through the cache (the loss falls); 04 prefills each record once, with the base model, for the
    base and the adapter answers, which equal answers decoded by hand that way."""
    params = _params(lora_layers=1, max_steps=12, learning_rate=5e-2, grounded_think=False)
    out = tmp_path / "run"
    summary = finetune.train(params, _cohort_file(params), out)
    losses = [json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert summary["steps"] == 12 and min(losses[-3:]) < losses[0]
    meta = json.loads((out / "adapter" / "training_params.json").read_text())
    assert meta["params"]["frozen_record"] is True

    model, tok = load_model(params, adapter=str(out / "adapter"))
    prefills = []
    real = runner.prefix_cache

    def counted(m, head):
        from peft.tuners.tuners_utils import BaseTunerLayer

        prefills.append(all(x.disable_adapters for x in m.modules() if isinstance(x, BaseTunerLayer)))
        return real(m, head)

    monkeypatch.setattr(runner, "prefix_cache", counted)
    cases = _cases(2)
    defs = load_definitions(None, "en")
    js = jobs.build_jobs(cases, tok, defs, params)
    store = runstore.RunStore(tmp_path / "raw.jsonl")
    arm = runner.Arm(js, params, ("base", "adapter"), jobs.grammar_for(tok, params, defs, cases))
    summary = runner.run_arms(model, tok, [arm], store, jobs.adapter_identity(str(out / "adapter")), progress=False)[0]
    assert prefills == [True] * len(cases)  # one prefill per record, by the base model, not one per variant
    assert summary.generated == 2 * len(js) and summary.failed == 0
    answers, _ = runner.collect(store, js, params, ("base", "adapter"), jobs.adapter_identity(str(out / "adapter")))
    # by hand: the base model's record cache, the adapter decoding the questions
    grammar = jobs.grammar_for(tok, params, defs, cases)
    for case in cases:
        own = [j for j in js if j.case_id == case.case_id]
        head = tok(own[0].head, add_special_tokens=False).input_ids
        with decoding.variant(model, "base"):
            cache = decoding.prefix_cache(model, head)
        outs = _decode_apart(model, tok, "adapter", head, own, params, cache, grammar.for_case(case.case_id))
        for k, j in enumerate(own):
            assert answers["adapter"][case.case_id][j.item] == tok.decode(outs[k][0], skip_special_tokens=True)


def test_answers_of_a_frozen_adapter_have_their_own_hash():
    p = _params()
    with_ = jobs.settings_key(p, "adapter", "abc")
    without = jobs.settings_key({**p, "frozen_record": False}, "adapter", "abc")
    assert with_ != without
    assert jobs.settings_key(p, "base", None) == jobs.settings_key({**p, "frozen_record": False}, "base", None)


def test_inference_refuses_an_adapter_trained_the_other_way(tmp_path):
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "training_params.json").write_text(json.dumps({"params": {"frozen_record": True}}))
    with pytest.raises(ValueError, match=r"trained with frozen_record: true.*set frozen_record: true"):
        jobs.check_frozen_record(str(folder), {"frozen_record": False})
    with pytest.raises(ValueError, match="frozen_record: true"):
        jobs.check_frozen_record(str(tmp_path), {})  # a training out_dir holding adapter/
    jobs.check_frozen_record(str(folder), {"frozen_record": True})
    jobs.check_frozen_record("Qwen/some-published-adapter", {"frozen_record": True})  # no training params: trusted


@pytest.mark.parametrize("backoff", [False, True])
def test_base_and_adapter_rows_decoded_together_answer_as_apart(tok, backoff):
    """With frozen_record, 04 decodes a case's base and adapter questions in one batch (peft's per-row
    adapter_names) behind one base prefill; each answer and P(True) equals the one its variant gives alone, also
    where quote_backoff answers some rows again (a row started again in its batch keeps its adapter)."""
    from peft import LoraConfig, get_peft_model

    params = _params(grounded_think=True, think_max_chars=64, max_new_tokens=60, quote_backoff=backoff)
    model = lively_llama(tok, seed=5, max_position_embeddings=8192)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    _nudge(model, scale=0.5)
    model.eval()
    cases = _cases(3)
    defs = load_definitions(None, "en")
    js = jobs.build_jobs(cases, tok, defs, params)
    grammar = jobs.grammar_for(tok, params, defs, cases)
    store = runstore.RunStore(Path(tempfile.mkdtemp()) / "raw.jsonl")
    summary = runner.run_arms(model, tok, [runner.Arm(js, params, ("base", "adapter"), grammar)], store, "x", False)[0]
    assert summary.generated == 2 * len(js) and summary.failed == 0
    assert (summary.backoffs > 0) == backoff, summary
    together, _ = runner.collect(store, js, params, ("base", "adapter"), "x")
    probs, _ = runner.collect(store, js, params, ("base", "adapter"), "x", key="p_true")
    differ = 0
    for case in cases:
        own = [j for j in js if j.case_id == case.case_id]
        head = tok(own[0].head, add_special_tokens=False).input_ids
        with decoding.variant(model, "base"):
            cache = decoding.prefix_cache(model, head)
        apart = {}
        for which in ("base", "adapter"):
            got = _decode_apart(model, tok, which, head, own, params, cache, grammar.for_case(case.case_id))
            apart[which] = got
            for k, j in enumerate(own):
                ids, p = got[k]
                assert together[which][case.case_id][j.item] == tok.decode(ids, skip_special_tokens=True), (which, j)
                assert probs[which][case.case_id][j.item] == pytest.approx(p, abs=1e-4)
        differ += sum(apart["base"][k][0] != apart["adapter"][k][0] for k in range(len(own)))
    assert differ > 0  # the adapter answers otherwise than the base model: the batch really mixed two models
