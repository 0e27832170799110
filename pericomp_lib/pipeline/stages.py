"""The pipeline's stages: what each notebook is given, reads and must write, and when it is up to date.

A stage is up to date when its manifest (RUN_DIR/.stages/<key>.json) holds the fingerprint of its
parameters, the files it reads and the upstream stages' fingerprints, and its outputs are there unchanged;
the batch runner (batch.py) skips it then, so a crashed batch is simply started again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.io import write_json
from ..core.params import STAGE_OF
from ..inference import runstore

ROOT = Path(__file__).resolve().parents[2]  # pericomp_lib/pipeline/stages.py -> the repository
NOTEBOOKS = ROOT / "notebooks"


@dataclass
class Stage:
    key: str
    notebook: str
    parameters: Callable[[dict, RunContext], dict]
    outputs: Callable[[dict, RunContext], list[str]]  # relative to the run dir; all must exist
    # files and folders the stage reads besides its parameters; their digests join the fingerprint
    inputs: Callable[[dict, RunContext], dict[str, Path | None]] = lambda p, c: {}
    # why a finished stage still owes something (None: complete); checked before the manifest is written
    owes: Callable[[Path], str | None] = lambda run_dir: None


@dataclass
class RunContext:
    params_path: Path
    seed: int
    run_dir: Path
    pericomp_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def stage_parameters(p: dict, ctx: RunContext, **notebook_only: Any) -> dict:
    """What papermill passes every stage: the whole resolved params (what `-f params.yaml` would inject, with
    the seed of this run) plus the run folder and the few notebook-only values the stage takes."""
    return {**p, "seed": ctx.seed, "run_dir": str(ctx.run_dir), **notebook_only}


def _stage_01(p: dict, ctx: RunContext) -> dict:
    return stage_parameters(p, ctx, pericomp_dir=ctx.pericomp_dir)


_stage_02 = _stage_03 = _stage_04 = stage_parameters


def _stage_05(p: dict, ctx: RunContext) -> dict:
    return stage_parameters(p, ctx, mode="run")


def fingerprint_parameters(key: str, parameters: dict) -> dict:
    """The parameters that make a stage's own work out of date: the params keys whose first reader is this
    stage (params.STAGE_OF; earlier stages' keys reach it through the upstream fingerprint) and the
    notebook-only values. Changing max_new_tokens re-runs 04 and 05, not the cohort or the training."""
    own = {key, key.removesuffix("b")}  # the chart Q&A stages (01b-05b) read the keys of their 01-05 twins
    return {k: v for k, v in parameters.items() if STAGE_OF.get(k, key) in own}


def _prompt_outputs(p: dict, ctx: RunContext) -> list[str]:
    name = "targeted_prompts.json" if p["strategy"] == "targeted" else "comprehensive_prompts.json"
    return [name, "sft_targets.json"]


def _local(value: Any) -> Path | None:
    """A params value that names a local file or folder (relative paths from the repository root, as
    params.py resolves them); None for hub ids, built-in model names and unset values."""
    if not value or not isinstance(value, (str, os.PathLike)):
        return None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else ROOT / path
    return path if path.exists() else None


def _definitions(p: dict) -> Path | None:
    if p.get("definitions"):
        return _local(p["definitions"])
    from ..prompting.definitions import DefinitionsError, packaged_definitions_path

    try:
        return packaged_definitions_path(p["language"])
    except DefinitionsError:
        return None


def _inputs_01(p: dict, ctx: RunContext) -> dict:
    return {"cohort_path": _local(p["cohort_path"])} if p["cohort_source"] in ("jsonl", "csv", "mimic") else {}


def _inputs_02(p: dict, ctx: RunContext) -> dict:
    return {"cohort": ctx.run_dir / "cohort.jsonl", "definitions": _definitions(p)}


def _inputs_03(p: dict, ctx: RunContext) -> dict:
    return {**_inputs_02(p, ctx), "model": _local(p["model_name_or_path"])}


def _inputs_04(p: dict, ctx: RunContext) -> dict:
    return {**_inputs_03(p, ctx), "adapter": ctx.run_dir / "adapter", "published_adapter": _local(p.get("adapter"))}


def _inputs_05(p: dict, ctx: RunContext) -> dict:
    # 04's files only: 05 itself adds predictions*/baseline.json and most_frequent.json next to them
    return {
        "cohort": ctx.run_dir / "cohort.jsonl",
        **{
            name: ctx.run_dir / name
            for name in (
                "predictions/base.json",
                "predictions/adapter.json",
                "predictions_strict/base.json",
                "predictions_strict/adapter.json",
                "predictions/comprehensive.json",
                "predictions_strict/comprehensive.json",
                "decisions.csv",
                "scope.json",
                runstore.REPORT,
            )
        },
    }


STAGES: dict[str, Stage] = {
    "01": Stage("01", "01_cohort.ipynb", _stage_01, lambda p, c: ["cohort.jsonl"], _inputs_01),
    "02": Stage("02", "02_prompts.ipynb", _stage_02, _prompt_outputs, _inputs_02),
    "03": Stage(
        "03",
        "03_finetune.ipynb",
        _stage_03,
        lambda p, c: ["adapter/adapter_config.json", "train_log.jsonl"],
        _inputs_03,
    ),
    "04": Stage(
        "04",
        "04_inference.ipynb",
        _stage_04,
        lambda p, c: [
            "raw.jsonl",
            "predictions/base.json",
            "predictions/adapter.json",
            "predictions_strict/base.json",
            "predictions_strict/adapter.json",
            "side_by_side.csv",
            runstore.REPORT,
        ],
        _inputs_04,
        runstore.inference_incomplete,
    ),
    "05": Stage("05", "05_evaluate.ipynb", _stage_05, lambda p, c: ["tables/run_metrics.csv"], _inputs_05),
}


# The second study (study: chart_qa): MIMIC-IV subjects -> instruction pairs -> QLoRA -> trials -> scores.
def _stage_01b(p: dict, ctx: RunContext) -> dict:
    return stage_parameters(p, ctx, mimic_dir=p["cohort_path"])  # None: the FAKE fixture (mimic_fixture_subjects)


def _inputs_01b(p: dict, ctx: RunContext) -> dict:
    return {"mimic_dir": _local(p["cohort_path"])}


def _inputs_03b(p: dict, ctx: RunContext) -> dict:
    return {"pairs": ctx.run_dir / "qa_pairs.jsonl", "model": _local(p["model_name_or_path"])}


def _inputs_04b(p: dict, ctx: RunContext) -> dict:
    return {
        "subjects": ctx.run_dir / "subjects.jsonl",
        "selection": ctx.run_dir / "qa_selection.json",
        "adapter": ctx.run_dir / "adapter",
        "questions": _local(p.get("qa_questions")),
        "model": _local(p["model_name_or_path"]),
    }


STAGES.update(
    {
        "01b": Stage("01b", "01b_mimic.ipynb", _stage_01b, lambda p, c: ["subjects.jsonl"], _inputs_01b),
        "02b": Stage(
            "02b",
            "02b_qa_pairs.ipynb",
            stage_parameters,
            lambda p, c: ["qa_pairs.jsonl", "qa_selection.json", "column_importance.csv"],
            lambda p, c: {"subjects": c.run_dir / "subjects.jsonl"},
        ),
        "03b": Stage(
            "03b",
            "03b_qa_finetune.ipynb",
            stage_parameters,
            lambda p, c: ["adapter/adapter_config.json", "train_log.jsonl"],
            _inputs_03b,
        ),
        "04b": Stage("04b", "04b_qa_trials.ipynb", stage_parameters, lambda p, c: ["validation.csv"], _inputs_04b),
        "05b": Stage(
            "05b",
            "05b_qa_scores.ipynb",
            stage_parameters,
            lambda p, c: ["tables/qa_summary.csv"],  # summary.json: the batch adds stage times after it
            lambda p, c: {"validation": c.run_dir / "validation.csv"},
        ),
    }
)
STUDY_STAGES = {"complications": ("01", "02", "03", "04", "05"), "chart_qa": ("01b", "02b", "03b", "04b", "05b")}


def stages_for(p: dict, asked: list[str] | None = None) -> list[str]:
    """The stages a run goes through: its study's (params `study`), or those asked, which must be the study's."""
    own = STUDY_STAGES[p.get("study", "complications")]
    if not asked:
        return list(own)
    other = [k for k in asked if k not in own]
    if other:
        raise ValueError(
            f"stage(s) {', '.join(other)} are not stages of study {p.get('study')!r} ({', '.join(own)}); "
            "leave --stages out to run the study's own"
        )
    return [k for k in own if k in asked]


class IncompleteStage(RuntimeError):
    """A stage ran but still owes outputs (failed answers); re-running the batch retries them."""


def input_digests(stage: Stage, p: dict, ctx: RunContext) -> dict:
    """Digest of every file/folder the stage reads (runstore.file_digest: content, or size+mtime when big)."""
    return {
        name: runstore.path_digest(path) if path is not None else None for name, path in stage.inputs(p, ctx).items()
    }


def fingerprint(stage: Stage, parameters: dict, params_text: str, upstream: str, inputs: dict | None = None) -> str:
    blob = json.dumps(
        {
            "stage": stage.key,
            "notebook": (NOTEBOOKS / stage.notebook).read_text(encoding="utf-8"),
            "parameters": parameters,
            "params": params_text,
            "upstream": upstream,
            "inputs": inputs or {},
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def manifest_path(run_dir: Path, key: str) -> Path:
    return run_dir / ".stages" / f"{key}.json"


def write_manifest(run_dir: Path, stage: Stage, p: dict, ctx: RunContext, fingerprint: str, seconds: float) -> None:
    """Written last, after the outputs are checked: a manifest means the stage is done."""
    outputs = stage.outputs(p, ctx)
    write_json(
        manifest_path(run_dir, stage.key),
        {
            "fingerprint": fingerprint,
            "finished": time.time(),
            "seconds": round(seconds, 1),
            "outputs": {o: runstore.path_digest(run_dir / o) for o in outputs},
        },
    )


def is_complete(run_dir: Path, stage: Stage, p: dict, ctx: RunContext, fingerprint: str) -> bool:
    return stale_reason(run_dir, stage, p, ctx, fingerprint) is None


def stale_reason(run_dir: Path, stage: Stage, p: dict, ctx: RunContext, fingerprint: str) -> str | None:
    """Why the stage must run (again), or None when its outputs are complete and up to date."""
    m = manifest_path(run_dir, stage.key)
    if not m.exists():
        return "not run yet"
    try:
        done = json.loads(m.read_text())
    except json.JSONDecodeError:
        return f"{m} unreadable"
    if done.get("fingerprint") != fingerprint:
        return "its inputs changed"
    outputs = stage.outputs(p, ctx)
    missing = [o for o in outputs if not (run_dir / o).exists()]
    if missing:
        return f"output(s) missing: {', '.join(missing)}"
    recorded = done.get("outputs") or {}
    changed = [o for o in outputs if o in recorded and runstore.path_digest(run_dir / o) != recorded[o]]
    if changed:
        return f"output(s) changed or damaged since the stage completed: {', '.join(changed)}"
    return stage.owes(run_dir)
