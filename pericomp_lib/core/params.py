"""Run parameters: one typed model (`Params`), one flat YAML per model/profile (the notebooks' resolver is
notebook_params.py).

Every key, its type, its default and the first stage that reads it is declared once, in `Params` below.
`load_params` (CLIs, batch runner) and `notebook_params.from_notebook` (the notebooks' setup cell) both go
through it: unknown keys, wrong types (the string "no" for a boolean, 16.5 for an integer) and out-of-range values
fail before any model loads, with one line naming the key and what is allowed (`ParamsError`).
Numbers written as YAML strings (`1e-4`, which YAML 1.1 reads as a string) are accepted.
Relative paths in params (cohort_path, definitions; model and adapter folders that exist there) resolve
against the repository root, never against the working directory of a kernel or shell.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .taxonomy import STRATEGIES

ROOT = Path(__file__).resolve().parents[2]  # pericomp_lib/core/params.py -> the repository
DEFAULT_PROFILE = "params/smollm2-135m.yaml"  # what a notebook uses when it is given no params at all


class ParamsError(ValueError):
    """A bad params file or value: one line naming the file, the key and what is allowed."""


# ---------------------------------------------------------------------------------------------- value types
def _integer(lo: int | None = None, hi: int | None = None, special: tuple = (), hint: str = "") -> Callable:
    def check(v: Any) -> Any:
        if v in special and not isinstance(v, bool):
            return v
        if isinstance(v, str) and re.fullmatch(r"\s*[+-]?\d+\s*", v):
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"must be an integer{hint}, not {_what(v)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"is out of range: use an integer{hint}")
        return v

    return check


def _number(
    lo: float | None = None, hi: float | None = None, lo_open: bool = False, hint: str = "", optional: bool = False
) -> Callable:
    def check(v: Any) -> Any:
        if v is None and optional:
            return None
        if isinstance(v, str):
            try:
                v = float(v.strip())
            except ValueError:
                raise ValueError(f"must be a number{hint}, not {_what(v)}") from None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"must be a number{hint}, not {_what(v)}")
        if (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and v > hi):
            raise ValueError(f"is out of range: use a number{hint}")
        return v

    return check


def _boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"must be true or false (a YAML boolean, unquoted), not {_what(v)}")
    return v


def _choice(*allowed: str) -> Callable:
    def check(v: Any) -> Any:
        if not isinstance(v, str) or v not in allowed:
            raise ValueError(f"is not allowed; use one of {', '.join(allowed)}")
        return v

    check.allowed = allowed
    return check


def _text(pattern: str | None = None, hint: str = "", optional: bool = False) -> Callable:
    def check(v: Any) -> Any:
        if v is None and optional:
            return None
        if isinstance(v, os.PathLike):
            v = os.fspath(v)
        if not isinstance(v, str) or not v.strip() or (pattern and not re.fullmatch(pattern, v)):
            raise ValueError(f"must be {hint}")
        return v

    return check


def _names(v: Any) -> list[str]:
    if isinstance(v, tuple):
        v = list(v)
    if not (isinstance(v, list) and v and all(isinstance(m, str) and m for m in v)):
        raise ValueError("must be a non-empty list of module names, e.g. [q_proj, v_proj]")
    return v


def _trap_kinds(v: Any) -> list[str]:
    if isinstance(v, tuple):
        v = list(v)
    if v is None:
        return []
    if not (isinstance(v, list) and all(isinstance(t, str) and t for t in v)):
        raise ValueError("must be a list of synthetic trap kinds, e.g. [tnt_renal], or [] for none")
    return v


def _complications(v: Any) -> list[str] | None:
    if v is None:
        return None
    from . import taxonomy

    if isinstance(v, tuple):
        v = list(v)
    if not (isinstance(v, list) and v and all(isinstance(c, str) for c in v)):
        raise ValueError("must be null (all 22) or a non-empty list of ids, e.g. [pneumonia, delirium]")
    bad = [c for c in v if c not in taxonomy.IDS]
    if bad:
        raise ValueError(f"has unknown id(s) {bad}; valid ids: {', '.join(taxonomy.IDS)}")
    return v


def _what(v: Any) -> str:
    return f"the string {v!r}" if isinstance(v, str) else f"{v!r} ({type(v).__name__})"


def _t(check: Callable, py: Any = Any):
    return Annotated[py, BeforeValidator(check)]


def F(default: Any, stage: str, doc: str, **kw):
    """A field with its default, the first stage that reads it (01 cohort ... 04 inference) and its meaning."""
    if isinstance(default, list):
        kw["default_factory"] = lambda d=default: list(d)
    else:
        kw["default"] = default
    return Field(description=doc, json_schema_extra={"stage": stage}, **kw)


PosInt = _t(_integer(1, hint=" >= 1"), int)


# ---------------------------------------------------------------------------------------------- the model
class Params(BaseModel):
    """Every run parameter. Stage tags: the first stage that reads the key (batch fingerprints use them)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, validate_assignment=True)

    run_name: _t(_text(r"[A-Za-z0-9][A-Za-z0-9._-]*", "a folder name: letters, digits, '.', '_' or '-'"), str) = F(
        "default", "", "names the run folder runs/<run_name>/seed-<seed>/"
    )
    seed: _t(_integer(0, hint=" >= 0"), int) = F(1, "01", "cohort split, training and sampling seed")
    # model
    model_name_or_path: _t(
        _text(hint="a hub id, a local folder or a built-in name (smollm2-135m, tiny-random)"), str
    ) = F("smollm2-135m", "03", "base model")
    adapter: _t(
        _text(hint="null, a trained adapter folder or a published one (hub id / local path)", optional=True),
        str | None,
    ) = F(None, "04", "a trained adapter folder or a published one (hub id / local path)")
    quantization: _t(_choice("none", "4bit", "8bit"), str) = F("none", "03", "4bit: QLoRA (bitsandbytes NF4)")
    dtype: _t(_choice("auto", "float32", "bfloat16", "float16"), str) = F("auto", "03", "weights dtype")
    device: _t(
        _text(
            r"auto|cpu|mps|cuda(:\d+)?",
            "auto, cpu, cuda, cuda:N or mps (cuda fails at load time when no GPU "
            "is visible; auto falls back to the CPU)",
        ),
        str,
    ) = F("auto", "03", "where the model runs")
    # LoRA, the paper's settings
    lora_r: PosInt = F(16, "03", "LoRA rank")
    lora_alpha: PosInt = F(32, "03", "LoRA alpha")
    lora_dropout: _t(_number(0.0, 1.0, hint=" in [0, 1)"), float) = F(0.05, "03", "LoRA dropout")
    target_modules: _t(_names, list) = F(["q_proj", "k_proj", "v_proj", "o_proj"], "03", "modules given adapters")
    learning_rate: _t(_number(0.0, lo_open=True, hint=" > 0, e.g. 1e-4"), float) = F(1e-4, "03", "peak learning rate")
    num_epochs: _t(_number(0.0, lo_open=True, hint=" > 0, e.g. 10"), float) = F(1.0, "03", "epochs (max_steps -1)")
    max_steps: _t(_integer(1, special=(-1,), hint=" >= 1, or -1 to train num_epochs epochs"), int) = F(
        -1, "03", "-1: train num_epochs epochs"
    )
    batch_size: PosInt = F(1, "03", "per-device training batch")
    grad_accum: PosInt = F(8, "03", "gradient accumulation steps")
    max_seq_len: PosInt = F(4096, "03", "longest training row in tokens")
    gradient_checkpointing: _t(_boolean, bool) = F(True, "03", "recompute activations (less memory, ~30% slower)")
    packing: _t(_boolean, bool) = F(False, "03", "one training row per case (targeted + shared_prefix)")
    lora_layers: _t(_integer(1, special=(None,), hint=" >= 1, or null for every layer"), int | None) = F(
        None, "03", "None: LoRA on every layer (the paper); k: on the top k layers only"
    )
    frozen_record: _t(_boolean, bool) = F(
        False,
        "03",
        "the record is read through the base model (its KV computed once per training row, and shared by base "
        "and adapter answers); LoRA adapts the question and answer tokens only. false: LoRA on every token (the "
        "paper)",
    )
    cache_frozen_layers: _t(_boolean, bool) = F(
        False,
        "03",
        "frozen_record false with lora_layers: the layers below the adapters run once per training row and their "
        "hidden states are kept, so a step runs the adapted layers only, record included (the same loss and "
        "gradients as LoRA on every token, less time)",
    )
    negative_ratio: _t(
        _number(0.0, lo_open=True, hint=" > 0, or null for every question", optional=True), float | None
    ) = F(
        None,
        "03",
        "class balance: negative targeted examples kept per positive "
        "one, per complication (None: every question, the paper)",
    )
    positive_weight: _t(_number(0.0, lo_open=True, hint=" > 0, or null for 1", optional=True), float | None) = F(
        None,
        "03",
        "class balance without dropping questions: the loss weight of a positive targeted answer (None: 1, the paper)",
    )
    trap_weight: _t(_number(0.0, lo_open=True, hint=" > 0, or null for 1", optional=True), float | None) = F(
        None,
        "03",
        "the loss weight of a negative targeted answer whose record holds a look-alike of that complication "
        "(synthetic cohorts: meta trap_for; None: 1, the paper)",
    )
    decision_weight: _t(_number(0.0, lo_open=True, hint=" > 0, or null for 1", optional=True), float | None) = F(
        None,
        "03",
        "loss weight of the tokens of a targeted answer's True/False against its other tokens (None: 1, the paper)",
    )
    quote_weight: _t(_number(0.0, lo_open=True, hint=" > 0, or null for 1", optional=True), float | None) = F(
        None,
        "03",
        "loss weight of the first token of a targeted answer's think against its other tokens: with "
        'answer_layout evidence_first, where it chooses between "none" and the record\'s words (None: 1, the paper)',
    )
    # optimiser, schedule and checkpoints (training.SFT_CONFIG_KEYS maps them onto trl.SFTConfig)
    lr_scheduler_type: _t(
        _choice(
            "cosine", "linear", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial", "inverse_sqrt"
        ),
        str,
    ) = F("cosine", "03", "learning-rate schedule")
    warmup_steps: _t(_integer(0, hint=" >= 0"), int) = F(0, "03", "optimiser steps of linear warmup")
    weight_decay: _t(_number(0.0, hint=" >= 0"), float) = F(0.0, "03", "AdamW weight decay")
    max_grad_norm: _t(_number(0.0, lo_open=True, hint=" > 0"), float) = F(1.0, "03", "gradient clipping norm")
    save_steps: PosInt = F(50, "03", "optimiser steps between checkpoints (resume points)")
    save_total_limit: _t(_integer(1, special=(None,), hint=" >= 1, or null to keep every checkpoint"), int | None) = F(
        2, "03", "checkpoints kept (older ones are deleted)"
    )
    # stage "": read by 03 but it changes no output, so turning it on re-runs nothing (batch fingerprints)
    report_to: _t(_choice("none", "tensorboard", "mlflow", "wandb"), str) = F(
        "none",
        "",
        "training curves: none | tensorboard (offline, RUN_DIR/checkpoints/runs/) | mlflow | wandb (installed "
        "and configured by you)",
    )
    # prompts and inference
    strategy: _t(_choice(*STRATEGIES), str) = F("targeted", "02", "one prompt per complication or one for all")
    prompt_layout: _t(_choice("paper", "shared_prefix"), str) = F(
        "paper", "02", "paper: record last; shared_prefix: record first"
    )
    comprehensive_think: _t(_boolean, bool) = F(True, "02", "comprehensive answers carry a think field")
    comprehensive_scope: _t(_choice("all", "asked"), str) = F(
        "all", "04", "comprehensive prompt: all 22 definitions (the paper) or only the asked complications"
    )
    answer_layout: _t(_choice("paper", "decision_first", "evidence_first"), str) = F(
        "paper",
        "02",
        "targeted answer: paper (think, bool, grading) | decision_first (bool first) | evidence_first (think = a "
        "quote of the record, then bool, grading)",
    )
    negative_quote: _t(_choice("trap", "decisive", "trap_decisive", "trap_neighbour"), str) = F(
        "trap",
        "02",
        "evidence_first negatives quote: trap (a trap's look-alike, else none) | decisive (the charted fact the "
        "rule read and rejected first, e.g. flatus back on POD 2) | trap_decisive (that fact where a trap was laid "
        "for the complication, else none) | trap_neighbour (a trap's look-alike, else a present neighbouring "
        "complication's finding that rules it out, e.g. an infarction's ST change for myocardial injury, else none)",
    )
    question_style: _t(_choice("criteria", "brief", "brief_criteria"), str) = F(
        "criteria",
        "02",
        "targeted question: criteria (the paper) | brief (name only) | brief_criteria (the criteria text, then brief)",
    )
    language: _t(_choice("en", "zh"), str) = F("en", "01", "records and prompts")
    definitions: _t(
        _text(hint="null (the packaged definitions for `language`) or a definitions file", optional=True), str | None
    ) = F(None, "02", "None: the packaged definitions for `language`")
    complications: _t(_complications, list | None) = F(
        None, "02", "None: all 22; a list of ids restricts targeted runs"
    )
    max_new_tokens: PosInt = F(256, "04", "answer length cap")
    enable_thinking: _t(_boolean, bool) = F(False, "03", "chat templates with a thinking switch (Qwen3)")
    inference_batch_size: PosInt = F(8, "04", "prompts generated together")
    constrained: _t(_boolean, bool) = F(
        False, "04", "answers follow their JSON schema (llguidance); false: the paper's free generation"
    )
    think_max_chars: _t(_integer(1, special=(None,), hint=" >= 1, or null for no limit"), int | None) = F(
        None, "04", "constrained answers: longest think text in characters (None: no limit)"
    )
    grounded_think: _t(_boolean, bool) = F(
        False,
        "04",
        'constrained evidence_first answers: the think is "none" or a phrase copied from the record (a grammar '
        "per case); false: any text",
    )
    quote_backoff: _t(_boolean, bool) = F(
        False,
        "04",
        "grounded_think answers: a row whose greedy token inside its quote is one the record does not allow is "
        'answered again with the quote "none" (the evidence it looked for is not there); false: the masked choice '
        "stands",
    )
    comprehensive_arm: _t(_boolean, bool) = F(
        False, "04", "a targeted run also asks the base model the comprehensive prompt (Figure 6b's third arm)"
    )
    calibration_cases: _t(_integer(0, hint=" >= 0"), int) = F(
        0, "04", "training cases whose P(True) is scored to choose an operating point (0: none)"
    )
    # cohort
    cohort_source: _t(_choice("synthetic", "pericomp_repo", "jsonl", "csv", "mimic"), str) = F(
        "synthetic", "01", "where 01 takes the cases from"
    )
    n_cases: PosInt = F(300, "01", "synthetic cases (train + validation)")
    n_external: _t(_integer(0, hint=" >= 0"), int) = F(0, "01", "synthetic external-center test cases")
    cohort_path: _t(_text(hint="null or the user's cohort file/folder", optional=True), str | None) = F(
        None, "01", "cohort_source jsonl/csv: the user's file; mimic: the MIMIC-IV folder"
    )
    difficulty: _t(_number(0.0, 1.0, hint=" in [0, 1]"), float) = F(0.5, "01", "share of synthetic look-alike traps")
    twins: _t(_trap_kinds, list) = F(
        [],
        "01",
        "synthetic: trap kinds (cohort.synthetic.TWINS: tnt_renal, tnt_near) whose training cases get a counterfactual "
        "twin, the same course without the fact that rules the complication out; both arms train on them",
    )
    record_length: _t(_choice("full", "compact", "notes"), str) = F(
        "full",
        "01",
        "synthetic records: full (~2k tokens), compact (~0.5k, for CPU runs) or notes (compact without the lab "
        "table, whose values the notes state: ~0.45k)",
    )
    max_eval_cases: _t(
        _integer(1, special=(None,), hint=" >= 1, or null for the whole evaluation split"), int | None
    ) = F(None, "04", "None: the whole evaluation split")

    # the second study: chart-grounded Q&A on MIMIC-IV (study: chart_qa; stages 01b-05b; docs/chart_qa.md)
    study: _t(_choice("complications", "chart_qa"), str) = F(
        "complications",
        "01",
        "complications: PeriComp's detection study (01-06) | chart_qa: QLoRA Q&A validated on MIMIC-IV (01b-05b)",
    )
    mimic_fixture_subjects: PosInt = F(
        120, "01", "cohort_source mimic with cohort_path null: subjects of the FAKE MIMIC-shaped fixture made instead"
    )
    qa_pairs_per_subject: PosInt = F(3, "02b", "chart_qa: instruction pairs drawn from each subject's chart (at most)")
    qa_column_drop_below: _t(_number(0.0, 1.0, hint=" in [0, 1]"), float) = F(
        0.01, "02b", "chart_qa: table.columns whose share of the boosted importance is below this leave the context"
    )
    qa_trials: PosInt = F(
        48, "04b", "chart_qa: validation trials (subjects of the validation split, questions round-robin)"
    )
    qa_questions: _t(
        _text(hint="null (the packaged guidance set) or a questions JSON file", optional=True), str | None
    ) = F(None, "04b", "chart_qa: guidance questions with ideal answers and must-have facts (None: packaged)")
    qa_temperature: _t(_number(0.0, 2.0, hint=" in [0, 2]"), float) = F(
        0.0, "04b", "chart_qa: 0 = greedy (the study's way); > 0 samples, with a seed per trial"
    )
    qa_max_new_tokens: PosInt = F(220, "04b", "chart_qa: answer length cap")


FIELDS: tuple[str, ...] = tuple(Params.model_fields)
DEFAULTS: dict[str, Any] = Params().model_dump()
STAGE_OF: dict[str, str] = {
    k: (f.json_schema_extra or {}).get("stage", "01") or "" for k, f in Params.model_fields.items()
}
ALLOWED: dict[str, tuple] = {  # the keys with a fixed set of values, and those values
    k: m.func.allowed
    for k, f in Params.model_fields.items()
    for m in f.metadata
    if isinstance(m, BeforeValidator) and hasattr(m.func, "allowed")
}
REQUIRED_IN_FILE = ("run_name", "model_name_or_path")
PATH_KEYS = (
    "cohort_path",
    "definitions",
    "qa_questions",
)  # always paths: relative ones resolve against the repository root
MAYBE_PATH_KEYS = ("model_name_or_path", "adapter")  # hub ids or names unless a folder of that name exists


def _one_line(e: ValidationError, raw: Mapping[str, Any], where: str) -> str:
    parts = []
    for err in e.errors():
        key = str(err["loc"][0]) if err.get("loc") else "?"
        msg = str(err["ctx"]["error"]) if err.get("type") == "value_error" and "ctx" in err else err["msg"]
        value = raw.get(key, err.get("input"))
        parts.append(f"{key}={value!r} {msg}")
    return f"{where}: " + "; ".join(parts)


def validate(params: Mapping[str, Any], where: str = "params") -> dict[str, Any]:
    """Defaults filled in, every key checked; returns a plain dict. Raises ParamsError (one line)."""
    unknown = sorted(set(params) - set(FIELDS))
    if unknown:
        raise ParamsError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed keys: {', '.join(sorted(FIELDS))}")
    try:
        return Params.model_validate(dict(params)).model_dump()
    except ValidationError as e:
        raise ParamsError(_one_line(e, params, where)) from None


def repo_path(value: str | os.PathLike | None) -> Path | None:
    """A user path: ~ expanded, relative paths taken from the repository root (not the working directory)."""
    if value is None or value == "":
        return None
    p = Path(os.path.expanduser(os.fspath(value)))
    return p if p.is_absolute() else ROOT / p


def resolve_paths(params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for key in PATH_KEYS:
        if out.get(key):
            out[key] = str(repo_path(out[key]))
    for key in MAYBE_PATH_KEYS:
        v = out.get(key)
        if v and not Path(os.path.expanduser(v)).is_absolute() and (ROOT / v).exists():
            out[key] = str(ROOT / v)
    return out


def read_params_file(path: str | os.PathLike, require: tuple[str, ...] = REQUIRED_IN_FILE) -> dict[str, Any]:
    """The raw mapping of a params YAML (or a run's params.json); file errors are ParamsError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found (see params/*.yaml)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ParamsError(f"{path}: cannot read it ({e})") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: must be a flat mapping of key: value lines")
    for key in require:
        if key not in raw:
            raise ParamsError(f"{path}: missing required key {key!r}")
    return raw


def load_params(path: str | os.PathLike | None = None, **overrides: Any) -> dict[str, Any]:
    """Defaults < params file < overrides (None overrides are ignored, so callers can pass optional flags).

    Returns a plain dict with relative paths resolved against the repository root."""
    raw: dict[str, Any] = {}
    where = "params"
    if path:
        raw = read_params_file(path)
        where = str(path)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return resolve_paths(validate(raw, where))


def describe() -> str:
    """A table of every key: default, first stage that reads it, meaning (for docs and --help)."""
    rows = [
        f"{k:24s} {STAGE_OF[k] or '-':3s} {json.dumps(DEFAULTS[k], ensure_ascii=False):50s} "
        f"{Params.model_fields[k].description}"
        for k in FIELDS
    ]
    return "\n".join(rows)
