"""Params files, LoRA / QLoRA training on tiny-random, adapter reload, resume, and the 03 notebook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pericomp_lib.core.params import ParamsError, load_params, validate
from pericomp_lib.core.records import Case, GoldLabel, write_cohort
from pericomp_lib.training import finetune, train_inputs

ROOT = Path(__file__).resolve().parents[1]
PARAMS = sorted((ROOT / "params").glob("*.yaml"))
LOG_KEYS = {"step", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_s", "peak_memory_mb"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two OpenMP threads on a busy 2-core machine spin-wait; one thread is several times faster here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------------------------------ params
def test_params_files_exist_and_validate():
    names = {p.stem for p in PARAMS}
    assert {"tiny-random", "smollm2-135m", "qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b", "qwq-32b"} <= names
    for path in PARAMS:
        p = load_params(path)
        assert p["run_name"] == path.stem
        if path.stem.startswith(("qwen", "qwq")):  # the paper's LoRA settings, on the modules the authors trained
            assert (p["lora_r"], p["lora_alpha"], p["learning_rate"]) == (16, 32, 1e-4)
            # every linear layer: what the authors' logged trainable counts imply (tests/test_plan.py); the
            # paper's text (q/k/v/o) is the commented line above it
            assert p["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
            assert "# target_modules: [q_proj, k_proj, v_proj, o_proj]" in path.read_text()
            assert p["model_name_or_path"].startswith("Qwen/")
            assert p["report_to"] == "none" and "report_to: tensorboard" in path.read_text()
    assert load_params(ROOT / "params/qwen3-32b.yaml")["quantization"] == "4bit"


def test_params_errors_name_key_and_allowed(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_name: x\nmodel_name_or_path: tiny-random\nlora_rank: 8\n")
    with pytest.raises(ParamsError, match=r"unknown key\(s\) lora_rank.*allowed keys:.*lora_r"):
        load_params(bad)
    with pytest.raises(ParamsError, match=r"quantization='3bit'.*none, 4bit, 8bit"):
        validate({"quantization": "3bit"})
    with pytest.raises(ParamsError, match="learning_rate"):
        validate({"learning_rate": 0})


# ----------------------------------------------------------------------------------------- helpers
def _examples(n=4):
    return [
        {
            "case_id": f"c{i}",
            "complication": "delirium",
            "prompt": f"Record {i}: confused on day 2. Delirium?",
            "completion": '{"think": "confusion", "bool": "True", "grading": "mild"}',
        }
        for i in range(n)
    ]


def _params(**kw):
    base = {
        "run_name": "t",
        "model_name_or_path": "tiny-random",
        "dtype": "float32",
        "device": "cpu",
        "batch_size": 2,
        "grad_accum": 1,
        "learning_rate": 2e-2,
        "max_seq_len": 512,
        "gradient_checkpointing": False,
        "lora_dropout": 0.0,
    }
    return validate({**base, **kw})


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture
def trainers(monkeypatch):
    """The trainers that train() runs, with their args (to check that training goes through TRL)."""
    from pericomp_lib.training import sft

    seen = []
    real = sft.AnswerLossSFTTrainer.train

    def spy(self, *a, **kw):
        seen.append(self)
        return real(self, *a, **kw)

    monkeypatch.setattr(sft.AnswerLossSFTTrainer, "train", spy)
    return seen


def _through_trl(trainers) -> None:
    import trl

    assert len(trainers) == 1 and isinstance(trainers[0], trl.SFTTrainer)
    assert isinstance(trainers[0].args, trl.SFTConfig)


# --------------------------------------------------------------------------------------------- LoRA
@pytest.mark.slow
def test_lora_loss_falls_and_adapter_reloads(tmp_path, trainers):
    from pericomp_lib.llm.models import load_model

    out = tmp_path / "lora"
    summary, trained = finetune.fit(_params(max_steps=12), _examples(), out)
    _through_trl(trainers)
    rows = _log(out)
    assert [r["step"] for r in rows] == list(range(1, 13)) and rows[0].keys() >= LOG_KEYS
    first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-3:]) / 3
    assert last < first - 0.3, f"loss did not fall: {first:.3f} -> {last:.3f}"
    assert summary["steps"] == 12 and summary["tokens_per_s"] > 0 and summary["n_skipped_too_long"] == 0

    meta = json.loads((out / "adapter" / "training_params.json").read_text())
    assert meta["data_sha256"] == finetune.data_sha256(_examples()) and meta["params"]["lora_r"] == 16
    assert (out / "adapter" / "adapter_config.json").exists()

    reloaded, tok = load_model(_params(), adapter=str(out / "adapter"))
    ids = tok(["Record 1: confused on day 2. Delirium?"], return_tensors="pt")
    trained.eval()
    with torch.no_grad():
        a, b = trained(**ids).logits, reloaded(**ids).logits
        with reloaded.disable_adapter():
            base = reloaded(**ids).logits
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a, base, atol=1e-3)

    # resume: a longer run in the same out_dir continues from checkpoint-12 and keeps the log contiguous
    resumed = finetune.train_examples(_params(max_steps=14), _examples(), out)
    assert resumed["resumed_from"].endswith("checkpoint-12") and resumed["steps"] == 14
    assert [r["step"] for r in _log(out)] == list(range(1, 15))


def test_qlora_4bit_trains(tmp_path, trainers):
    import bitsandbytes as bnb

    summary, model = finetune.fit(_params(max_steps=8), _examples(), tmp_path / "q", quantization="4bit")
    _through_trl(trainers)
    assert summary["quantization"] == "4bit"
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    # TRL would cast a quantized model's LoRA weights to bf16; ours stay fp32 as peft made them
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    losses = [r["loss"] for r in _log(tmp_path / "q")]
    assert all(map(torch.isfinite, torch.tensor(losses))) and min(losses[-3:]) < losses[0]
    assert (tmp_path / "q" / "adapter" / "adapter_model.safetensors").exists()


def test_too_long_examples_are_counted_not_hidden(tmp_path):
    ex = _examples(2) + [{"case_id": "long", "complication": "delirium", "prompt": "word " * 600, "completion": "{}"}]
    with pytest.warns(UserWarning, match="1 example.*longer than max_seq_len"):
        s = finetune.train_examples(_params(max_steps=1, max_seq_len=300), ex, tmp_path / "o")
    assert s["n_skipped_too_long"] == 1 and s["n_trained_examples"] == 2


# ------------------------------------------------------------------------------------------- TRL
def test_params_keys_reach_the_sft_config_of_a_run(tmp_path, trainers):
    finetune.train_examples(
        _params(
            max_steps=1,
            lr_scheduler_type="linear",
            warmup_steps=3,
            weight_decay=0.01,
            max_grad_norm=0.5,
            save_steps=7,
            save_total_limit=1,
        ),
        _examples(),
        tmp_path,
    )
    _through_trl(trainers)
    args = trainers[0].args
    assert (
        args.lr_scheduler_type.value,
        args.warmup_steps,
        args.weight_decay,
        args.max_grad_norm,
        args.save_steps,
        args.save_total_limit,
    ) == ("linear", 3, 0.01, 0.5, 7, 1)


def test_every_mapped_params_key_reaches_sft_config(tmp_path):
    from pericomp_lib.core.params import DEFAULTS, STAGE_OF

    assert set(finetune.SFT_CONFIG_KEYS) <= set(DEFAULTS)
    assert all(STAGE_OF[k] in ("01", "03") for k in finetune.SFT_CONFIG_KEYS)  # seed is read first by 01
    changed = {
        "batch_size": 3,
        "grad_accum": 5,
        "learning_rate": 3e-4,
        "num_epochs": 2.5,
        "max_steps": 11,
        "lr_scheduler_type": "constant_with_warmup",
        "warmup_steps": 2,
        "weight_decay": 0.1,
        "max_grad_norm": 0.3,
        "save_steps": 9,
        "save_total_limit": None,
        "seed": 4,
        "max_seq_len": 777,
    }
    assert changed.keys() == finetune.SFT_CONFIG_KEYS.keys()
    args = finetune.sft_config(_params(**changed), tmp_path, "cpu", "float32")
    for key, field in finetune.SFT_CONFIG_KEYS.items():
        value = getattr(args, field)
        assert getattr(value, "value", value) == changed[key], key
    assert args.data_seed == 4 and args.logging_steps == 1 and not args.bf16 and not args.activation_checkpointing


def test_report_to_reaches_sft_config_and_tensorboard_writes_event_files(tmp_path):
    """report_to is a params key (default none); tensorboard works offline: 2 steps write event files."""
    assert finetune.sft_config(_params(), tmp_path, "cpu", "float32").report_to in ("none", [], ["none"])
    with pytest.raises(ParamsError, match=r"report_to='tensorbord'.*none, tensorboard, mlflow, wandb"):
        validate({"report_to": "tensorbord"})
    out = tmp_path / "tb"
    summary, _ = finetune.fit(_params(max_steps=2, report_to="tensorboard"), _examples(), out)
    events = list((out / "checkpoints" / "runs").rglob("events.out.tfevents.*"))
    assert summary["steps"] == 2 and events, sorted(p.name for p in out.rglob("*"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]


def test_training_logs_progress_lines_at_the_runners_pace(caplog):
    """Step, loss and time left reach the log (the batch output) every 15 s and at the last step."""
    import logging
    from types import SimpleNamespace

    from pericomp_lib.training.sft import Progress

    now = [0.0]
    progress = Progress(every=15, clock=lambda: now[0])
    state = SimpleNamespace(global_step=0, max_steps=100, is_world_process_zero=True)
    caplog.set_level(logging.INFO, logger="pericomp_lib.training.sft")
    progress.on_train_begin(None, state, None)
    for step in range(1, 101):
        now[0], state.global_step = step * 2.0, step  # 2 s a step
        progress.on_log(None, state, None, logs={"loss": 1.0 / step})
    lines = [r.getMessage() for r in caplog.records if r.name == "pericomp_lib.training.sft"]
    assert lines[0] == "training: step 1/100 (1%), loss 1.0000, 0m 02s elapsed, ~3m 18s left"
    assert len(lines) == 14 and lines[-1].startswith("training: step 100/100 (100%)")  # steps 1, 9, ..., 97, 100
    assert "~0m 00s left" in lines[-1]
    state.global_step = 101  # a run resumed from its last checkpoint logs one step past max_steps
    progress.on_log(None, state, None, logs={"loss": 0.5})
    assert caplog.records[-1].getMessage().endswith("~0m 00s left")


def test_sft_config_defaults_are_the_pre_trl_training_arguments(tmp_path):
    """The params defaults reproduce the TrainingArguments hard-coded before TRL, field for field."""
    from transformers import TrainingArguments

    p = _params(max_steps=6)
    old = TrainingArguments(
        output_dir=str(tmp_path / "checkpoints"),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=1,
        learning_rate=2e-2,
        num_train_epochs=1.0,
        max_steps=6,
        lr_scheduler_type="cosine",
        warmup_steps=0,
        weight_decay=0.0,
        logging_steps=1,
        save_strategy="steps",
        save_steps=50,
        save_total_limit=2,
        report_to="none",
        seed=1,
        data_seed=1,
        remove_unused_columns=False,
        activation_checkpointing=False,
        activation_checkpointing_kwargs={"use_reentrant": False},
        use_cpu=True,
        bf16=False,
        fp16=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
        disable_tqdm=False,
    ).to_dict()
    new = finetune.sft_config(p, tmp_path, "cpu", "float32").to_dict()
    assert {k: new[k] for k in old} == old


# ---------------------------------------------------------------------------- cohort -> packed run
def _cohort(path: Path) -> Path:
    rec = (
        "Day 1 after colectomy. Day 2: the patient was confused and agitated at night, CAM-ICU positive. "
        "Creatinine 84 umol/L. Discharged day 6."
    )
    cases = [
        Case(
            f"t{i}",
            "test",
            split,
            "en",
            rec + f" Bed {i}.",
            [GoldLabel("delirium", "mild", ["CAM-ICU positive"])] if i % 2 else [],
        )
        for i, split in enumerate(["train", "train", "train", "validation"])
    ]
    write_cohort(path, cases)
    return path


def test_train_from_cohort_packed(tmp_path):
    cohort = _cohort(tmp_path / "cohort.jsonl")
    params = _params(
        max_steps=2,
        batch_size=1,
        prompt_layout="shared_prefix",
        packing=True,
        complications=["delirium", "pneumonia", "stroke"],
        max_seq_len=4096,
    )
    s = finetune.train(params, cohort, tmp_path / "run")
    assert s["packing"] and s["n_examples"] == 9 and s["n_rows"] == 3  # 3 train cases x 3 questions, 1 row each
    assert s["steps"] == 2 and (tmp_path / "run" / "adapter" / "adapter_config.json").exists()
    with pytest.raises(train_inputs.TrainingError, match="shared_prefix"):
        finetune.train(_params(packing=True), cohort, tmp_path / "bad")


@pytest.mark.notebook
@pytest.mark.parametrize("quantization", [None, "4bit"], ids=["lora", "qlora"])
def test_notebook_03_runs_on_tiny_random(tmp_path, run_notebook, quantization):
    out = tmp_path / "finetune"
    _cohort(out / "cohort.jsonl")
    run_notebook(
        "03_finetune.ipynb",
        params_path=str(ROOT / "params" / "tiny-random.yaml"),
        run_dir=str(out),
        max_steps=2,
        **({"quantization": quantization} if quantization else {}),
    )
    assert (out / "adapter" / "adapter_config.json").exists()
    assert len(_log(out)) == 2 and (out / "loss.png").exists()
    trained = json.loads((out / "adapter" / "training_params.json").read_text())
    assert trained["params"]["quantization"] == (quantization or "none")
