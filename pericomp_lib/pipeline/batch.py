"""Batch runner: the numbered notebooks for every (params file, seed), with papermill.

`python -m pericomp_lib batch --params params/a.yaml params/b.yaml --seeds 1 2 3 4 5`
Each run lives in runs/<run_name>/seed-<n>/. A stage is skipped when its outputs exist and its
fingerprint (its parameters, the params file, the upstream stages' fingerprints) is unchanged, so a
crashed batch is simply started again. One failing run never stops the others; the summary names
every failure and the exit code is non-zero if any run failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from ..core.params import ParamsError, load_params
from . import batch_report
from .notebook_runner import execute_notebook
from .slurm import slurm_script
from .stages import (
    STAGES,
    IncompleteStage,
    RunContext,
    Stage,
    fingerprint,
    fingerprint_parameters,
    input_digests,
    manifest_path,
    stages_for,
    stale_reason,
    write_manifest,
)

log = logging.getLogger(__name__)


class CtrlC:
    """Ctrl-C is never lost, whenever it lands. Python turns SIGINT into a KeyboardInterrupt wherever the main
    thread happens to be, and some places swallow it: a finalizer (`__del__`, a weakref callback) running when
    papermill drops a kernel's client and sockets between two stages only prints "Exception ignored", and
    a cleanup that fails in turn replaces it with its own error. So the handler also sets `seen`, and the
    runner checks it before and after every stage and between runs (`check`)."""

    def __init__(self) -> None:
        self.seen = False

    def handler(self, signum, frame) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.seen:
            raise KeyboardInterrupt


CTRL_C = CtrlC()


class KernelDeathAfterCtrlC(logging.Filter):
    """Ctrl-C reaches the kernels too (one process group), so a kernel may die before nbclient's task notices;
    asyncio then logs that task's DeadKernelError as "Task exception was never retrieved" with a traceback, at
    garbage collection, after the batch summary. Once Ctrl-C was seen that death is expected: dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (CTRL_C.seen and type(exc).__name__ == "DeadKernelError")


logging.getLogger("asyncio").addFilter(KernelDeathAfterCtrlC())


@contextmanager
def catching_ctrl_c():
    """CTRL_C's handler for SIGINT while the batch runs (main thread only: signals go there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    CTRL_C.seen = False
    old = signal.signal(signal.SIGINT, CTRL_C.handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def run_one(params_path: Path, seed: int, stages: list[str], runs_dir: Path, pericomp_dir: str | None) -> dict:
    """Run the stages of one (params, seed); never raises: failures come back in the result."""
    t0 = time.time()
    result = {
        "run": params_path.stem,
        "seed": seed,
        "stage_reached": None,
        "status": "ok",
        "error": "",
        "seconds": 0.0,
        "skipped": [],
        "run_dir": "",
    }
    try:
        p = load_params(params_path, seed=seed)
        result["run"] = p["run_name"]
        run_dir = runs_dir / p["run_name"] / f"seed-{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        result["run_dir"] = str(run_dir)
        ctx = RunContext(params_path.resolve(), seed, run_dir.resolve(), pericomp_dir)
        _run_stages(p, ctx, stages_for(p, stages), result)
    except KeyboardInterrupt:  # Ctrl-C: this run stops here; the batch prints its summary and stops
        _interrupted(result)
    except IncompleteStage as e:  # ran, but answers are owed: not done, retried by the next run
        if CTRL_C.seen:  # the kernel got the Ctrl-C too and stopped mid-stage
            _interrupted(result)
        else:
            result["status"] = "incomplete"
            result["error"] = str(e)[:500]
    except Exception as e:  # one run's failure must not stop the batch
        if CTRL_C.seen:  # an error raised by the Ctrl-C (the kernel's KeyboardInterrupt, a cleanup cut short)
            _interrupted(result)
        else:
            _record_failure(result, e, runs_dir, seed)
    result["seconds"] = round(time.time() - t0, 1)
    result.update(batch_report.run_scores(result, seed))
    return result


def _interrupted(result: dict) -> None:
    result["status"] = "interrupted"
    result["error"] = (
        f"stopped by Ctrl-C after stage {result['stage_reached'] or '(none)'}; run the same command to go on"
    )


def _run_stages(p: dict, ctx: RunContext, stages: list[str], result: dict) -> None:
    """Each stage in order, skipped when up to date; a stage's fingerprint chains into the next one's."""
    upstream = ""
    for key in stages:
        CTRL_C.check()  # a Ctrl-C swallowed during the hand-over from the previous stage stops here
        stage = STAGES[key]
        parameters = stage.parameters(p, ctx)
        fp = fingerprint(stage, fingerprint_parameters(key, parameters), "", upstream, input_digests(stage, p, ctx))
        upstream = fp
        why = stale_reason(ctx.run_dir, stage, p, ctx, fp)
        if why is None:
            result["skipped"].append(key)
            result["stage_reached"] = key
            log.info("[%s seed %s] stage %s up to date, skipped", p["run_name"], ctx.seed, key)
            continue
        reason = f" ({why})" if why not in ("not run yet", "its inputs changed") else ""
        log.info("[%s seed %s] stage %s: %s%s", p["run_name"], ctx.seed, key, stage.notebook, reason)
        _run_stage(stage, p, ctx, parameters, fp)
        result["stage_reached"] = key
        CTRL_C.check()


def _run_stage(stage: Stage, p: dict, ctx: RunContext, parameters: dict, fp: str) -> None:
    """Run one stage's notebook; its manifest is written only when it wrote everything and owes nothing."""
    key = stage.key
    manifest_path(ctx.run_dir, key).unlink(missing_ok=True)
    t_stage = time.time()
    try:
        execute_notebook(stage.notebook, ctx.run_dir / "notebooks" / stage.notebook, parameters)
    except Exception as e:
        owed = stage.owes(ctx.run_dir)  # a stage that stopped over answers it owes is incomplete
        if owed and not owed.endswith("did not finish"):
            raise IncompleteStage(f"stage {key}: {owed}") from e
        raise
    missing = [o for o in stage.outputs(p, ctx) if not (ctx.run_dir / o).exists()]
    if missing:
        raise RuntimeError(f"stage {key} ({stage.notebook}) finished without writing {', '.join(missing)}")
    owed = stage.owes(ctx.run_dir)
    if owed:
        raise IncompleteStage(f"stage {key}: {owed}")
    write_manifest(ctx.run_dir, stage, p, ctx, fp, time.time() - t_stage)


def _record_failure(result: dict, e: Exception, runs_dir: Path, seed: int) -> None:
    result["status"] = "failed"
    result["error"] = _short_error(e)
    try:
        (runs_dir / "_errors").mkdir(parents=True, exist_ok=True)
        (runs_dir / "_errors" / f"{result['run']}-seed-{seed}.txt").write_text(traceback.format_exc())
    except OSError as oe:  # an unwritable runs folder must not crash the handler that reports it
        result["error"] += f" (traceback not saved: {type(oe).__name__}: {oe})"


def _short_error(e: Exception) -> str:
    name = getattr(e, "ename", None) or type(e).__name__  # papermill's PapermillExecutionError keeps the cell's
    value = getattr(e, "evalue", None) or str(e)
    first = str(value).strip().splitlines()[0] if str(value).strip() else ""
    return f"{name}: {first}"[:300]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m pericomp_lib batch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--params", nargs="+", required=True, help="params YAML files (one run_name each)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1])
    ap.add_argument(
        "--stages", nargs="+", default=None, choices=list(STAGES), help="default: the study's own (params `study`)"
    )
    ap.add_argument("--runs-dir", default="runs")
    ap.add_argument("--pericomp-dir", default=None, help="authors' repo, for cohort_source: pericomp_repo")
    ap.add_argument(
        "--gpus",
        nargs="+",
        default=None,
        help="run the (params, seed) pairs in parallel, dealt out to one worker per GPU id (CUDA_VISIBLE_DEVICES)",
    )
    ap.add_argument("--emit-slurm", default=None, metavar="FILE", help="write a Slurm job-array script and exit")
    return ap


def cli(argv: list[str]) -> int:
    from ..core.logs import show_logs

    show_logs()
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
    from ..core.io import check_writable

    unwritable = check_writable(runs_dir, "--runs-dir")
    if unwritable:  # before any run starts, not once per run
        print(f"error: --runs-dir: {unwritable}", file=sys.stderr)
        return 2
    if args.gpus:
        return _run_on_gpus(args, params)
    with catching_ctrl_c():
        results = _run_pairs(args, params, dict(names), runs_dir)
        return batch_report.report(results, runs_dir)


def _run_pairs(args, params: list[Path], run_name: dict, runs_dir: Path) -> list[dict]:
    """Every (params, seed) in turn; after Ctrl-C the rest are listed as not started."""
    results = []
    pairs = [(path, seed) for path in params for seed in args.seeds]
    for i, (path, seed) in enumerate(pairs):
        results.append(run_one(path, seed, args.stages, runs_dir, args.pericomp_dir))
        if results[-1]["status"] == "interrupted" or CTRL_C.seen:
            results += [
                {"run": run_name[pp], "seed": s, "status": "not started", "stage_reached": None, "error": ""}
                for pp, s in pairs[i + 1 :]
            ]
            break
    return results


def duplicate_run_names(names: list[tuple[Path, str]]) -> str | None:
    """Two params files with one run_name would share runs/<run_name>/ and overwrite each other."""
    seen: dict[str, list[str]] = {}
    for path, name in names:
        seen.setdefault(name, []).append(str(path))
    clashes = {n: ps for n, ps in seen.items() if len(ps) > 1}
    if not clashes:
        return None
    return "; ".join(
        f"{' and '.join(ps)} have the same run_name {n!r}: they would share runs/{n}/ and overwrite "
        "each other; give each params file its own run_name"
        for n, ps in clashes.items()
    )


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
            cmd = [
                sys.executable,
                "-m",
                "pericomp_lib",
                "batch",
                "--params",
                path,
                "--seeds",
                str(seed),
                *(["--stages", *args.stages] if args.stages else []),
                "--runs-dir",
                args.runs_dir,
            ]
            if args.pericomp_dir:
                cmd += ["--pericomp-dir", args.pericomp_dir]
            codes.append(subprocess.run(cmd, env={**os.environ, "CUDA_VISIBLE_DEVICES": gpu}).returncode)

    threads = [
        threading.Thread(target=worker, args=(gpu, pairs))
        for gpu, pairs in deal_pairs(params, args.seeds, args.gpus).items()
        if pairs
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return max(codes, default=0)
