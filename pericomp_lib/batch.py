"""Batch runner: the numbered notebooks for every (params file, seed), with papermill.

`python -m pericomp_lib batch --params params/a.yaml params/b.yaml --seeds 1 2 3 4 5`
Each run lives in runs/<run_name>/seed-<n>/. A stage is skipped when its outputs exist and its
fingerprint (its parameters, the params file, the upstream stages' fingerprints) is unchanged, so a
crashed batch is simply started again. One failing run never stops the others; the summary names
every failure and the exit code is non-zero if any run failed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import runstore
from .io import write_json
from .params import STAGE_OF, ParamsError, load_params

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@dataclass
class Stage:
    key: str
    notebook: str
    parameters: Callable[[dict, "RunContext"], dict]
    outputs: Callable[[dict, "RunContext"], list[str]]  # relative to the run dir; all must exist
    # files and folders the stage reads besides its parameters; their digests join the fingerprint
    inputs: Callable[[dict, "RunContext"], dict[str, Path | None]] = lambda p, c: {}
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
    return {k: v for k, v in parameters.items() if STAGE_OF.get(k, key) == key}


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
    from .prompts import DefinitionsError, packaged_definitions_path

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
    return {"cohort": ctx.run_dir / "cohort.jsonl", **{name: ctx.run_dir / name for name in (
        "predictions/base.json", "predictions/adapter.json", "predictions_strict/base.json",
        "predictions_strict/adapter.json", "predictions/comprehensive.json", "predictions_strict/comprehensive.json",
        "decisions.csv", "scope.json", runstore.REPORT)}}


STAGES: dict[str, Stage] = {
    "01": Stage("01", "01_cohort.ipynb", _stage_01, lambda p, c: ["cohort.jsonl"], _inputs_01),
    "02": Stage("02", "02_prompts.ipynb", _stage_02, _prompt_outputs, _inputs_02),
    "03": Stage("03", "03_finetune.ipynb", _stage_03,
                lambda p, c: ["adapter/adapter_config.json", "train_log.jsonl"], _inputs_03),
    "04": Stage("04", "04_inference.ipynb", _stage_04,
                lambda p, c: ["raw.jsonl", "predictions/base.json", "predictions/adapter.json",
                              "predictions_strict/base.json", "predictions_strict/adapter.json", "side_by_side.csv",
                              runstore.REPORT],
                _inputs_04, runstore.inference_incomplete),
    "05": Stage("05", "05_evaluate.ipynb", _stage_05, lambda p, c: ["tables/run_metrics.csv"], _inputs_05),
}


class IncompleteStage(RuntimeError):
    """A stage ran but still owes outputs (failed answers); re-running the batch retries them."""


def input_digests(stage: Stage, p: dict, ctx: RunContext) -> dict:
    """Digest of every file/folder the stage reads (runstore.file_digest: content, or size+mtime when big)."""
    return {name: runstore.path_digest(path) if path is not None else None
            for name, path in stage.inputs(p, ctx).items()}


def _fingerprint(stage: Stage, parameters: dict, params_text: str, upstream: str, inputs: dict | None = None) -> str:
    blob = json.dumps({"stage": stage.key, "notebook": (NOTEBOOKS / stage.notebook).read_text(encoding="utf-8"),
                       "parameters": parameters, "params": params_text, "upstream": upstream, "inputs": inputs or {}},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _manifest(run_dir: Path, key: str) -> Path:
    return run_dir / ".stages" / f"{key}.json"


def is_complete(run_dir: Path, stage: Stage, p: dict, ctx: RunContext, fingerprint: str) -> bool:
    return stale_reason(run_dir, stage, p, ctx, fingerprint) is None


def stale_reason(run_dir: Path, stage: Stage, p: dict, ctx: RunContext, fingerprint: str) -> str | None:
    """Why the stage must run (again), or None when its outputs are complete and up to date."""
    m = _manifest(run_dir, stage.key)
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


def run_one(params_path: Path, seed: int, stages: list[str], runs_dir: Path, pericomp_dir: str | None,
            log=print) -> dict:
    """Run the stages of one (params, seed); never raises: failures come back in the result."""
    t0 = time.time()
    result = {"run": params_path.stem, "seed": seed, "stage_reached": None, "status": "ok", "error": "",
              "seconds": 0.0, "skipped": [], "run_dir": ""}
    try:
        p = load_params(params_path, seed=seed)
        result["run"] = p["run_name"]
        run_dir = runs_dir / p["run_name"] / f"seed-{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        result["run_dir"] = str(run_dir)
        ctx = RunContext(params_path.resolve(), seed, run_dir.resolve(), pericomp_dir)
        upstream = ""
        for key in stages:
            stage = STAGES[key]
            parameters = stage.parameters(p, ctx)
            fp = _fingerprint(stage, fingerprint_parameters(key, parameters), "", upstream,
                              input_digests(stage, p, ctx))
            upstream = fp
            why = stale_reason(ctx.run_dir, stage, p, ctx, fp)
            if why is None:
                result["skipped"].append(key)
                result["stage_reached"] = key
                log(f"[{p['run_name']} seed {seed}] stage {key} up to date, skipped")
                continue
            log(f"[{p['run_name']} seed {seed}] stage {key}: {stage.notebook}"
                + (f" ({why})" if why not in ("not run yet", "its inputs changed") else ""))
            _manifest(ctx.run_dir, key).unlink(missing_ok=True)
            t_stage = time.time()
            try:
                execute_notebook(stage.notebook, ctx.run_dir / "notebooks" / stage.notebook, parameters)
            except Exception as e:
                owed = stage.owes(ctx.run_dir)  # a stage that stopped over answers it owes is incomplete
                if owed and not owed.endswith("did not finish"):
                    raise IncompleteStage(f"stage {key}: {owed}") from e
                raise
            outputs = stage.outputs(p, ctx)
            missing = [o for o in outputs if not (ctx.run_dir / o).exists()]
            if missing:
                raise RuntimeError(f"stage {key} ({stage.notebook}) finished without writing {', '.join(missing)}")
            owed = stage.owes(ctx.run_dir)
            if owed:
                raise IncompleteStage(f"stage {key}: {owed}")
            write_json(_manifest(ctx.run_dir, key), {"fingerprint": fp, "finished": time.time(),
                                                     "seconds": round(time.time() - t_stage, 1),
                                                     "outputs": {o: runstore.path_digest(ctx.run_dir / o) for o in outputs}})
            result["stage_reached"] = key
    except KeyboardInterrupt:  # Ctrl-C: this run stops here; the batch prints its summary and stops
        result["status"] = "interrupted"
        result["error"] = f"stopped by Ctrl-C after stage {result['stage_reached'] or '(none)'}; run the same command to go on"
    except IncompleteStage as e:  # ran, but answers are owed: not done, retried by the next run
        result["status"] = "incomplete"
        result["error"] = str(e)[:500]
    except Exception as e:  # one run's failure must not stop the batch
        result["status"] = "failed"
        result["error"] = _short_error(e)
        try:
            (runs_dir / "_errors").mkdir(parents=True, exist_ok=True)
            (runs_dir / "_errors" / f"{result['run']}-seed-{seed}.txt").write_text(traceback.format_exc())
        except OSError as oe:  # an unwritable runs folder must not crash the handler that reports it
            result["error"] += f" (traceback not saved: {type(oe).__name__}: {oe})"
    result["seconds"] = round(time.time() - t0, 1)
    if result["run_dir"] and (Path(result["run_dir"]) / "cohort.jsonl").exists():
        try:  # RUN_DIR/summary.json: the run's numbers and stage times, machine-readable
            from . import summary

            s = summary.write(result["run_dir"])
            result.update({k: s.get(k) for k in ("f1_comprehensive", "auroc_adapter", "f1_delta_ci_low")})
        except Exception as e:  # noqa: BLE001 - a summary that cannot be made is said, never fatal
            log(f"[{result['run']} seed {seed}] summary.json not written: {type(e).__name__}: {e}")
    result["f1_base"], result["f1_adapter"] = _read_f1(Path(result["run_dir"])) if result["run_dir"] else (None, None)
    result["parsed_base"], result["parsed_adapter"] = (_read_parsed(Path(result["run_dir"])) if result["run_dir"]
                                                       else (None, None))
    return result


def _read_parsed(run_dir: Path) -> tuple[float | None, float | None]:
    """Share of answers that parsed (04's parse_report.json): a small base model often fails the format."""
    path = run_dir / "parse_report.json"
    if not path.exists():
        return None, None
    report = json.loads(path.read_text(encoding="utf-8"))

    def share(model: str) -> float | None:
        r = report.get(model, {}).get("lenient")
        return 1 - r["n_failures"] / r["n_answers"] if r and r.get("n_answers") else None

    return share("base"), share("adapter")


def _short_error(e: Exception) -> str:
    name = getattr(e, "ename", None) or type(e).__name__  # papermill's PapermillExecutionError keeps the cell's
    value = getattr(e, "evalue", None) or str(e)
    first = str(value).strip().splitlines()[0] if str(value).strip() else ""
    return f"{name}: {first}"[:300]


def _read_f1(run_dir: Path) -> tuple[float | None, float | None]:
    path = run_dir / "tables" / "run_metrics.csv"
    if not path.exists():
        return None, None
    import pandas as pd

    df = pd.read_csv(path)
    row = df[(df["averaging"] == "micro") & (df["mode"] == "lenient")].set_index("Models")["F1_score"]
    return (float(row["base"]) if "base" in row else None, float(row["adapter"]) if "adapter" in row else None)


QUIET = ("FutureWarning", "DeprecationWarning", "TqdmWarning", "warnings.warn(", "from .autonotebook import")


class StageOutput:
    """What a running notebook prints, streamed as prefixed lines so a long stage is never silent: its
    stdout (at most `max_lines` lines per print, the rest stays in the executed notebook) and its stderr
    (progress bars, at most one update per `every` seconds per bar, and warnings other than deprecations).
    Tables and figures are not streamed. papermill's own log (a warning for every params key a notebook
    takes through params.from_notebook) and the kernel's TCP warning do not reach the terminal."""

    def __init__(self, prefix: str, out=None, every: float = 15.0, max_lines: int = 4):
        self.prefix, self.out, self.every, self.max_lines = prefix, out or sys.stdout, every, max_lines
        self.last_bar: dict[str, float] = {}
        self.quiet_next = False

    def write(self, text: str) -> int:
        raw = [ln.rstrip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
        if raw and self.quiet_next and raw[0].startswith(" "):  # the source line under a dropped warning
            raw = raw[1:]
        self.quiet_next = bool(raw) and any(q in raw[-1] for q in QUIET)
        lines = [ln for i, ln in enumerate(raw) if not any(q in ln for q in QUIET)
                 and not (i and ln.startswith(" ") and any(q in raw[i - 1] for q in QUIET))]
        bars = [ln for ln in lines if "%|" in ln]
        if bars:  # a progress bar's newest state, throttled per bar name
            name, now = bars[-1].split("%|")[0].rstrip("0123456789 ").rstrip(":"), time.time()
            if now - self.last_bar.get(name, 0.0) >= self.every or "100%|" in bars[-1]:
                self.last_bar[name] = now
                print(self.prefix + bars[-1].strip(), file=self.out, flush=True)
            lines = [ln for ln in lines if "%|" not in ln]
        for ln in lines[:self.max_lines]:
            print(self.prefix + ln, file=self.out, flush=True)
        if len(lines) > self.max_lines:
            print(f"{self.prefix}... ({len(lines) - self.max_lines} more lines in the executed notebook)",
                  file=self.out, flush=True)
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def execute_notebook(name: str, out_path: Path, parameters: dict, stream: bool = True) -> None:
    """Run one notebook with papermill, streaming its printed output, prefixed [run seed stage], while it runs."""
    import logging

    import papermill as pm

    out_path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"[{parameters.get('run_name', '?')} seed {parameters.get('seed', '?')} {name.split('_')[0]}] "
    pm_log = logging.getLogger("papermill")
    level = pm_log.level
    pm_log.setLevel(logging.ERROR)  # "Passed unknown parameter: <key>" for every params key
    sink = StageOutput(prefix) if stream else None
    try:
        pm.execute_notebook(str(NOTEBOOKS / name), str(out_path), parameters=parameters, cwd=str(NOTEBOOKS),
                            kernel_name="python3", progress_bar=False, log_output=False, stdout_file=sink,
                            stderr_file=sink, extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    finally:
        pm_log.setLevel(level)


def summary_table(results: list[dict]) -> str:
    import pandas as pd

    cols = ["run", "seed", "status", "stage_reached", "seconds", "f1_comprehensive", "f1_base", "f1_adapter",
            "f1_delta_ci_low", "auroc_adapter", "parsed_base", "parsed_adapter", "error"]
    df = pd.DataFrame(results).reindex(columns=cols)
    return df.to_string(index=False, float_format=lambda v: f"{v:.3f}")


# Training hours of 10 epochs in the authors' logs (results/evaluation_dataframes/*_log.jsonl; README's table),
# keyed by the model folder / hub name in lower case.
AUTHORS_TRAIN_HOURS = {"qwen3-4b": 12.5, "qwen3-8b": 16.3, "qwen3-14b": 12.9, "qwen3-32b": 29.3, "qwq-32b": 3.5}


def slurm_hours(p: dict) -> int:
    """Wall time to ask for one (params, seed) task: the authors' training hours scaled to num_epochs,
    x1.5 (another GPU, QLoRA on one GPU instead of bf16 on several) plus 4 h for inference and tables;
    2 h for the built-in CPU models, 48 h for a model with no estimate."""
    import math

    from .models import BUILTINS

    name = str(p["model_name_or_path"]).rstrip("/").rsplit("/", 1)[-1].lower()
    if p["model_name_or_path"] in BUILTINS:
        return 2
    if name not in AUTHORS_TRAIN_HOURS:
        return 48
    return math.ceil(AUTHORS_TRAIN_HOURS[name] * float(p["num_epochs"]) / 10 * 1.5 + 4)


def slurm_script(params: list[str], seeds: list[int], stages: list[str], runs_dir: str, extra: str = "",
                 hours: int | None = None) -> str:
    """A job-array script: one array task per (params, seed); each task runs this same batch command,
    offline, with the longest task's time estimate (slurm_hours) unless `hours` is given."""
    pairs = [(p, s) for p in params for s in seeds]
    hours = hours or max(slurm_hours(load_params(p)) for p in params)
    lines = [
        "#!/usr/bin/env bash",
        f"#SBATCH --job-name=pericomp",
        f"#SBATCH --array=0-{len(pairs) - 1}",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=64G",
        f"#SBATCH --time={hours // 24}-{hours % 24:02d}:00:00",
        "#SBATCH --output=slurm-%A_%a.out",
        "set -euo pipefail",
        "export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false  # models come from the local cache",
        "PAIRS=(" + " ".join(shlex.quote(f"{p}:{s}") for p, s in pairs) + ")",
        'PAIR=${PAIRS[$SLURM_ARRAY_TASK_ID]}',
        'PARAMS=${PAIR%:*}; SEED=${PAIR##*:}',
        f'python -m pericomp_lib batch --params "$PARAMS" --seeds "$SEED" --stages {" ".join(stages)} '
        f'--runs-dir {shlex.quote(runs_dir)} {extra}'.rstrip(),
    ]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m pericomp_lib batch", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", nargs="+", required=True, help="params YAML files (one run_name each)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1])
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    ap.add_argument("--runs-dir", default="runs")
    ap.add_argument("--pericomp-dir", default=None, help="authors' repo, for cohort_source: pericomp_repo")
    ap.add_argument("--gpus", nargs="+", default=None,
                    help="run the (params, seed) pairs in parallel, dealt out to one worker per GPU id "
                         "(CUDA_VISIBLE_DEVICES)")
    ap.add_argument("--emit-slurm", default=None, metavar="FILE", help="write a Slurm job-array script and exit")
    return ap


def cli(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    runs_dir = Path(args.runs_dir)
    params = [Path(p) for p in args.params]
    try:  # validate everything before anything runs
        names = [(path, load_params(path)["run_name"]) for path in params]
    except ParamsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    clash = duplicate_run_names(names)
    if clash:
        print(f"error: {clash}", file=sys.stderr)
        return 2
    if args.emit_slurm:
        extra = f"--pericomp-dir {shlex.quote(args.pericomp_dir)}" if args.pericomp_dir else ""
        Path(args.emit_slurm).write_text(slurm_script(args.params, args.seeds, args.stages, args.runs_dir, extra))
        print(f"wrote {args.emit_slurm}: sbatch {args.emit_slurm}")
        return 0
    if args.gpus:
        return _run_on_gpus(args, params)
    results = []
    pairs = [(path, seed) for path in params for seed in args.seeds]
    for i, (path, seed) in enumerate(pairs):
        results.append(run_one(path, seed, args.stages, runs_dir, args.pericomp_dir))
        if results[-1]["status"] == "interrupted":
            run_name = dict(names)
            results += [{"run": run_name[pp], "seed": s, "status": "not started", "stage_reached": None, "error": ""}
                        for pp, s in pairs[i + 1:]]
            break
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        write_json(runs_dir / "batch_summary.json", results)
    except OSError as e:
        print(f"warning: could not write {runs_dir / 'batch_summary.json'}: {e.strerror or e}")
    print("\nBatch summary\n" + summary_table(results))
    failed = [r for r in results if r["status"] != "ok"]
    for r in failed:
        if r["status"] in ("interrupted", "not started"):
            continue
        if r["status"] == "incomplete":
            print(f"INCOMPLETE {r['run']} seed {r['seed']} after stage {r['stage_reached']}: {r['error']}")
        else:
            print(f"FAILED {r['run']} seed {r['seed']} at stage after {r['stage_reached']}: {r['error']} "
                  f"(traceback in {runs_dir / '_errors'})")
    if any(r["status"] == "interrupted" for r in results):
        print("STOPPED by Ctrl-C: runs marked 'interrupted' or 'not started' go on when you run the same command "
              "again (finished stages are kept)")
        return 130
    return 1 if failed else 0


def duplicate_run_names(names: list[tuple[Path, str]]) -> str | None:
    """Two params files with one run_name would share runs/<run_name>/ and overwrite each other."""
    seen: dict[str, list[str]] = {}
    for path, name in names:
        seen.setdefault(name, []).append(str(path))
    clashes = {n: ps for n, ps in seen.items() if len(ps) > 1}
    if not clashes:
        return None
    return "; ".join(f"{' and '.join(ps)} have the same run_name {n!r}: they would share runs/{n}/ and overwrite "
                     "each other; give each params file its own run_name" for n, ps in clashes.items())


def deal_pairs(params: list, seeds: list[int], gpus: list[str]) -> dict[str, list[tuple[str, int]]]:
    """(params, seed) pairs dealt round-robin over the GPUs: one model x 5 seeds uses 5 GPUs, not one."""
    groups: dict[str, list[tuple[str, int]]] = {g: [] for g in gpus}
    for i, pair in enumerate((str(p), s) for p in params for s in seeds):
        groups[gpus[i % len(gpus)]].append(pair)
    return groups


def _run_on_gpus(args, params: list[Path]) -> int:
    """One worker per GPU runs its (params, seed) pairs one after another, each as a batch process that
    sees only that GPU (CUDA_VISIBLE_DEVICES)."""
    import threading

    codes: list[int] = []

    def worker(gpu: str, pairs: list[tuple[str, int]]) -> None:
        for path, seed in pairs:
            cmd = [sys.executable, "-m", "pericomp_lib", "batch", "--params", path, "--seeds", str(seed),
                   "--stages", *args.stages, "--runs-dir", args.runs_dir]
            if args.pericomp_dir:
                cmd += ["--pericomp-dir", args.pericomp_dir]
            codes.append(subprocess.run(cmd, env={**os.environ, "CUDA_VISIBLE_DEVICES": gpu}).returncode)

    threads = [threading.Thread(target=worker, args=(gpu, pairs))
               for gpu, pairs in deal_pairs(params, args.seeds, args.gpus).items() if pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return max(codes, default=0)
