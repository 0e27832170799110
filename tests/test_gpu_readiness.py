"""The documented GPU path, checked on a CPU (issue 13): environment, Makefile, GPU-only profiles, launcher
config checks, sharded 4-bit config, adapter saving on every rank, params adapter not leaking into
training, Slurm script and GPU dealing."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from pericomp_lib.core.params import ParamsError, load_params, validate
from pericomp_lib.llm import models
from pericomp_lib.pipeline import batch, slurm
from pericomp_lib.training import finetune, lora, train_inputs

ROOT = Path(__file__).resolve().parents[1]
GPU_PROFILES = ["qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b", "qwq-32b"]


# --------------------------------------------------------------------------------- environment
def test_environment_yml_gives_cuda_torch_at_least_2_6():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"], "the pytorch channel stopped at torch 2.5.1"
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "pytorch-gpu>=2.6" in deps and any(d.startswith("cuda-version=12") for d in deps)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert not any(p.split(">")[0].split("=")[0] == "torch" for p in pip), "pip must not pull a second torch"


def _fake_python(folder: Path, has_torch: bool) -> Path:
    """A `python` that logs its arguments instead of installing anything."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    log = folder / "calls.log"
    script = bin_dir / "python"
    torch_rc = 0 if has_torch else 1
    script.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {log}
if [ "$1" = "-c" ]; then case "$2" in "import torch") exit {torch_rc};; *) echo 2.9.0+cu126;; esac; fi
exit 0
""")
    script.chmod(0o755)
    return log


@pytest.mark.parametrize("has_torch", [True, False])
def test_make_env_keeps_an_installed_torch(tmp_path, has_torch):
    log = _fake_python(tmp_path / "env", has_torch)
    out = subprocess.run(
        ["make", "-s", "env", f"VENV={tmp_path / 'env'}"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    calls = log.read_text()
    assert ("torch==2.13.0" in calls) is (not has_torch), calls
    assert "-e .[dev,lab]" in calls and (tmp_path / "env" / ".installed").exists()


def test_no_huggingface_cli_left():
    files = [ROOT / "README.md", *ROOT.glob("params/*.yaml"), *ROOT.glob("pericomp_lib/*.py"), *ROOT.glob("docs/*.md")]
    offenders = [str(f.relative_to(ROOT)) for f in files if "huggingface-cli" in f.read_text(encoding="utf-8")]
    assert not offenders, f"`huggingface-cli download` no longer exists (use `hf download`): {offenders}"
    assert "`hf download Qwen/Qwen3-4B`" in (ROOT / "params/qwen3-4b.yaml").read_text()


# ------------------------------------------------------------------------------ GPU-only profiles
def test_device_values_are_validated():
    for ok in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        validate({"device": ok})
    with pytest.raises(ParamsError, match=r"device='gpu'.*auto, cpu, cuda, cuda:N or mps"):
        validate({"device": "gpu"})


def test_cuda_profile_fails_clearly_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"params device='cuda' but torch sees no CUDA GPU.*device: cpu / auto"):
        models.pick_device("cuda")
    assert models.pick_device("auto") in ("cpu", "mps")
    for name in GPU_PROFILES:
        p = load_params(ROOT / "params" / f"{name}.yaml")
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            models.load_model(p)  # fails before any download or load


def test_qwen3_profiles_use_packed_shared_prefix_and_qwq_is_comprehensive_thinking():
    for name in GPU_PROFILES[:4]:
        p = load_params(ROOT / "params" / f"{name}.yaml")
        assert p["device"] == "cuda" and p["prompt_layout"] == "shared_prefix" and p["packing"] is True
        assert p["max_seq_len"] >= 12_594  # the authors' longest targeted example
        assert "prompt_layout: paper, packing: false, grad_accum: 16" in (ROOT / "params" / f"{name}.yaml").read_text()
    q = load_params(ROOT / "params/qwq-32b.yaml")
    assert q["strategy"] == "comprehensive" and q["enable_thinking"] is True and q["max_new_tokens"] >= 4096
    assert q["max_seq_len"] >= 16_053 and q["device"] == "cuda"


# ---------------------------------------------------------------------------- launchers and 4-bit
FSDP_ENV = {"ACCELERATE_USE_FSDP": "true", "FSDP_ACTIVATION_CHECKPOINTING": "true"}


def test_gradient_checkpointing_with_fsdp_activation_checkpointing_is_refused():
    with pytest.raises(train_inputs.TrainingError, match="gradient_checkpointing: false"):
        train_inputs.check_launch_config({"gradient_checkpointing": True}, FSDP_ENV)
    train_inputs.check_launch_config({"gradient_checkpointing": False}, FSDP_ENV)
    train_inputs.check_launch_config({"gradient_checkpointing": True}, {"ACCELERATE_USE_FSDP": "true"})
    train_inputs.check_launch_config({"gradient_checkpointing": True}, {})


def test_fit_checks_the_launch_config_before_loading(monkeypatch, tmp_path):
    for k, v in FSDP_ENV.items():
        monkeypatch.setenv(k, v)
    params = validate({"run_name": "t", "model_name_or_path": "tiny-random", "device": "cpu"})
    with pytest.raises(train_inputs.TrainingError, match="fsdp_activation_checkpointing"):
        finetune.fit(params, [{"case_id": "a", "prompt": "p", "completion": "c"}], tmp_path)


def test_documented_fsdp_recipe_passes_the_check():
    acc = yaml.safe_load((ROOT / "params/accelerate/fsdp_32b.yaml").read_text())
    assert acc["fsdp_config"]["fsdp_activation_checkpointing"] is True
    assert acc["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    doc = (ROOT / "docs/scale_out.md").read_text()
    assert "gradient_checkpointing: false" in doc


def test_sharded_4bit_stores_weights_in_the_compute_dtype():
    plain = models.quantization_config("4bit", torch.bfloat16, sharded=False)
    assert plain.bnb_4bit_quant_storage == torch.uint8 and plain.bnb_4bit_quant_type == "nf4"
    fsdp = models.quantization_config("4bit", torch.bfloat16, sharded=True)
    assert fsdp.bnb_4bit_quant_storage == torch.bfloat16 and fsdp.bnb_4bit_compute_dtype == torch.bfloat16
    assert models.quantization_config("none", torch.bfloat16, sharded=True) is None
    with pytest.raises(ValueError, match="8bit cannot run under FSDP"):
        models.quantization_config("8bit", torch.bfloat16, sharded=True)
    with pytest.raises(ValueError, match="set dtype: bfloat16"):
        models.quantization_config("4bit", torch.float32, sharded=True)


# ------------------------------------------------------------------------------------ adapter saving
class _FakeTrainer:
    """What lora.save_adapter needs from a Trainer, recording the calls (a non-zero rank by default)."""

    def __init__(self, model, rank: int = 1, writes=None):
        self.model, self.rank, self.writes = model, rank, writes
        self.calls: list[str] = []
        self.accelerator = SimpleNamespace(wait_for_everyone=lambda: self.calls.append("wait"))

    def is_world_process_zero(self):
        return self.rank == 0

    def save_model(self, out):
        self.calls.append("save_model")
        if self.rank == 0 and self.writes:
            self.writes(Path(out))


def _lora_model():
    from peft import LoraConfig, get_peft_model

    model, _ = models.load_model({"model_name_or_path": "tiny-random", "dtype": "float32", "device": "cpu"})
    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))


def test_every_rank_joins_the_save_and_only_rank_zero_writes(tmp_path):
    model = _lora_model()
    other = _FakeTrainer(model, rank=1)
    lora.save_adapter(other, tmp_path / "adapter", {"x": 1})
    assert other.calls == ["save_model", "wait"] and not (tmp_path / "adapter").exists()

    main = _FakeTrainer(model, rank=0, writes=lambda out: model.save_pretrained(out))
    lora.save_adapter(main, tmp_path / "adapter", {"x": 1})
    assert main.calls == ["save_model", "wait"]
    assert json.loads((tmp_path / "adapter" / "training_params.json").read_text()) == {"x": 1}
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()


def test_ungathered_save_is_caught(tmp_path):
    from safetensors.torch import save_file

    model = _lora_model()
    n = sum(p.requires_grad for p in model.parameters())

    def empty_shards(out: Path):  # what an ungathered sharded save writes: the keys, no data
        out.mkdir(parents=True)
        save_file({f"w{i}": torch.empty(0) for i in range(n)}, str(out / "adapter_model.safetensors"))

    with pytest.raises(train_inputs.TrainingError, match="not gathered"):
        lora.save_adapter(_FakeTrainer(model, 0, empty_shards), tmp_path / "a", {})
    with pytest.raises(train_inputs.TrainingError, match="FULL_STATE_DICT"):
        lora.save_adapter(_FakeTrainer(model, 0, lambda out: out.mkdir(parents=True)), tmp_path / "b", {})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def _examples(n=2):
    return [
        {
            "case_id": f"c{i}",
            "complication": "delirium",
            "prompt": f"Record {i}: confused. Delirium?",
            "completion": '{"bool": "True"}',
        }
        for i in range(n)
    ]


def test_params_adapter_does_not_leak_into_training(tmp_path):
    published = _lora_model()
    published.save_pretrained(tmp_path / "published")
    params = validate(
        {
            "run_name": "t",
            "model_name_or_path": "tiny-random",
            "dtype": "float32",
            "device": "cpu",
            "adapter": str(tmp_path / "published"),
            "max_steps": 1,
            "batch_size": 2,
            "grad_accum": 1,
            "gradient_checkpointing": False,
        }
    )
    torch.set_num_threads(1)
    with pytest.warns(UserWarning, match="not used for training: a fresh LoRA"):
        summary, trained = finetune.fit(params, _examples(), tmp_path / "run")
    assert list(trained.peft_config) == ["default"]
    lora_a = [n for n, _ in trained.named_modules() if n.endswith("lora_A.default")]
    assert len(lora_a) == 2 * 4  # 2 layers x q/k/v/o of a fresh adapter, nothing stacked
    assert all(".base_layer.base_layer" not in n for n, _ in trained.named_modules())
    assert json.loads((tmp_path / "run/adapter/training_params.json").read_text())["params"]["adapter"] is None


# ------------------------------------------------------------------------------------- portability
def test_training_imports_resource_lazily(monkeypatch):
    tree = ast.parse((ROOT / "pericomp_lib/training/finetune.py").read_text())
    top = [a.name for node in tree.body if isinstance(node, ast.Import) for a in node.names]
    assert "resource" not in top, "`import resource` at module level breaks Windows"
    monkeypatch.setitem(sys.modules, "resource", None)  # what Windows gives: ImportError
    assert finetune._peak_memory_mb() > 1


# ---------------------------------------------------------------------------------- Slurm and GPUs
def test_slurm_script_time_comes_from_the_estimate_and_runs_offline(tmp_path):
    p32 = load_params(ROOT / "params/qwen3-32b.yaml")
    assert slurm.slurm_hours(p32) >= 30 and slurm.slurm_hours(
        load_params(ROOT / "params/qwen3-4b.yaml")
    ) < slurm.slurm_hours(p32)
    text = slurm.slurm_script(
        [str(ROOT / "params/qwen3-4b.yaml"), str(ROOT / "params/qwen3-32b.yaml")], [1, 2], ["01", "03"], "runs"
    )
    h = slurm.slurm_hours(p32)
    assert f"#SBATCH --time={h // 24}-{h % 24:02d}:00:00" in text
    assert "export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1" in text and "#SBATCH --array=0-3" in text
    assert "--time=0-02:00:00" in slurm.slurm_script([str(ROOT / "params/tiny-random.yaml")], [1], ["01"], "runs")


def test_gpus_deal_out_params_seed_pairs(tmp_path, monkeypatch):
    assert batch.deal_pairs(["a.yaml"], [1, 2, 3, 4, 5], ["0", "1", "2", "3"]) == {
        "0": [("a.yaml", 1), ("a.yaml", 5)],
        "1": [("a.yaml", 2)],
        "2": [("a.yaml", 3)],
        "3": [("a.yaml", 4)],
    }
    calls = []

    def fake_run(cmd, env):
        calls.append((env["CUDA_VISIBLE_DEVICES"], cmd[cmd.index("--seeds") + 1], cmd[cmd.index("--params") + 1]))
        return subprocess.CompletedProcess(cmd, 1 if cmd[cmd.index("--seeds") + 1] == "3" else 0)

    monkeypatch.setattr(batch.subprocess, "run", fake_run)
    tiny = str(ROOT / "params/tiny-random.yaml")
    code = batch.cli(["--params", tiny, "--seeds", "1", "2", "3", "--gpus", "0", "1", "--runs-dir", str(tmp_path)])
    assert code == 1  # a failing pair makes the batch fail
    assert sorted(calls) == [("0", "1", tiny), ("0", "3", tiny), ("1", "2", tiny)]


# ------------------------------------------------------------------ FSDP2 over 2 CPU processes (gloo)
def _fsdp_launch(tmp_path: Path, gradient_checkpointing: bool) -> subprocess.CompletedProcess:
    from pericomp_lib.cohort import build

    if not (tmp_path / "cohort.jsonl").exists():
        build.make_cohort("synthetic", n_cases=6, out_dir=tmp_path, record_length="compact")
    params = tmp_path / "p.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "run_name": "fsdp",
                "model_name_or_path": "tiny-random",
                "dtype": "float32",
                "device": "cpu",
                "batch_size": 1,
                "grad_accum": 1,
                "max_seq_len": 8192,
                "complications": ["delirium", "pneumonia"],
                "gradient_checkpointing": gradient_checkpointing,
            }
        )
    )
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "2",
        "--use_fsdp",
        "--fsdp_version",
        "2",
        "--fsdp_state_dict_type",
        "FULL_STATE_DICT",
        "--fsdp_auto_wrap_policy",
        "TRANSFORMER_BASED_WRAP",
        "--fsdp_transformer_layer_cls_to_wrap",
        "LlamaDecoderLayer",
        "--fsdp_activation_checkpointing",
        "true",
        "--mixed_precision",
        "no",
        "-m",
        "pericomp_lib.training.finetune",
        "--params",
        str(params),
        "--cohort",
        str(tmp_path / "cohort.jsonl"),
        "--out",
        str(tmp_path / "out"),
        "--max-steps",
        "2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


@pytest.mark.slow
def test_fsdp_two_processes_save_a_whole_adapter_and_refuse_double_checkpointing(tmp_path):
    """The docs' FSDP recipe on the CPU: 2 processes, gloo, FSDP2 with its activation checkpointing."""
    from safetensors import safe_open

    refused = _fsdp_launch(tmp_path, gradient_checkpointing=True)
    assert refused.returncode != 0 and "gradient_checkpointing: false" in refused.stderr, refused.stderr[-2000:]

    run = _fsdp_launch(tmp_path, gradient_checkpointing=False)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp_path / "out/train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 2
    model = _lora_model()  # the same LoRA on one process: every tensor must come back whole
    with safe_open(str(tmp_path / "out/adapter/adapter_model.safetensors"), "pt") as f:
        saved = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118 - safetensors' safe_open is not a dict
    assert len(saved) == 2 * 4 * 2  # 2 layers x q/k/v/o x lora_A/B
    shapes = {n: list(p.shape) for n, p in model.named_parameters() if "lora_" in n}
    q_a = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    assert saved[q_a] == [16, shapes[q_a.replace(".weight", ".default.weight")][1]]
    assert not list((tmp_path / "out").glob(".adapter.*"))


# ------------------------------------------------------------------------------ paper-scale benchmark
@pytest.mark.slow
def test_paper_scale_benchmark_tiny_prints_its_table():
    import time

    t0 = time.perf_counter()
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/paper_scale.py"), "--tiny"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert time.perf_counter() - t0 < 90
    lines = run.stdout.splitlines()
    rows = [ln for ln in lines if ln.startswith("Qwen3-4B (tiny)")]
    for method in ("LoRA fp32", "QLoRA NF4"):
        for mode in ("unpacked ", "packed ", "unpacked, longest example"):
            row = next(r for r in rows if method in r and mode in r)
            tokens_per_row, peak, tok_s, ans_s = (float(x) for x in row.split()[-4:])
            assert tokens_per_row > 0 and peak > 0 and tok_s > 0 and ans_s > 0
        inf_row = next(r for r in rows if method in r and r.rstrip().endswith("x"))
        assert float(inf_row.split()[-1].rstrip("x")) > 1  # the shared prefix is faster even on the tiny shape
    packed = next(r for r in rows if "LoRA fp32" in r and "packed " in r and "unpacked" not in r)
    assert packed.split()[-4] == "320"  # head 192 + 4 x (24 + 8): one case in one row


def test_paper_scale_shapes_match_the_authors_parameter_counts():
    """The configs reproduce the base parameter counts in the authors' train logs (model_parameter_info
    minus the LoRA parameters), to the parameter."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import paper_scale
    from transformers import AutoModelForCausalLM, Qwen3Config

    logged = {"4b": 4_022_468_096, "8b": 8_190_735_360, "14b": 14_768_307_200, "32b": 32_762_123_264}
    for size, n in logged.items():
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(Qwen3Config(**{**paper_scale.COMMON, **paper_scale.QWEN3[size]}))
        assert sum(p.numel() for p in model.parameters()) == n, size
