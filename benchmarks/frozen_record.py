"""LoRA on every token (off), the same with cache_frozen_layers, and frozen_record, side by side on the same
training rows: seconds per step, first epoch and later ones.

The three runs train the CPU default profile (params/smollm2-135m.yaml: packed rows, LoRA on the top 10 layers)
on the same synthetic cases for the same number of epochs. With frozen_record the first visit of a row computes
the record's keys and values (base model) and the blocks' states below the LoRA layers once; later visits run
the top layers on the blocks only (the record is never adapted). With cache_frozen_layers the first visit keeps
the whole row's states below the LoRA layers; later visits run the top layers on the whole row (the paper's
LoRA on every token: tests/test_frozen_layers.py checks the loss and gradients are the plain ones).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/frozen_record.py --cases 12 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pericomp_lib.cohort.synthetic import generate_cohort
from pericomp_lib.core.params import load_params
from pericomp_lib.core.records import write_cohort
from pericomp_lib.training.finetune import train_examples, training_examples

MODES = ("off", "cached", "frozen_record")  # LoRA on every token; the same, layers below LoRA kept; the record frozen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params/smollm2-135m.yaml")
    ap.add_argument("--cases", type=int, default=12, help="synthetic training cases (one packed row each)")
    ap.add_argument("--epochs", type=int, default=2, help="passes over the rows (the default trains ~1.7)")
    args = ap.parse_args()
    steps = _time_steps()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = load_params(args.params)
        cases = generate_cohort(
            args.cases,
            language=base["language"],
            seed=1,
            difficulty=base["difficulty"],
            record_length=base["record_length"],
        )
        for c in cases:
            c.split = "train"
        cohort = Path(tmp) / "cohort.jsonl"
        write_cohort(cohort, cases)
        for mode in MODES:
            params = load_params(
                args.params,
                frozen_record=mode == "frozen_record",
                cache_frozen_layers=mode == "cached",
                calibration_cases=0,
                max_steps=-1,
            )
            params["num_epochs"] = float(args.epochs)
            examples = training_examples(params, cohort)
            steps.clear()
            s = train_examples(params, examples, Path(tmp) / f"out-{mode}", save_steps=10**6)
            log = [json.loads(line) for line in Path(s["train_log"]).read_text().splitlines()]
            rows = s["n_rows"]
            results[mode] = {
                "rows": rows,
                "steps": s["steps"],
                "train_wall_s": s["wall_s"],
                "s_per_step_epoch_1": round(sum(steps[:rows]) / max(len(steps[:rows]), 1), 3),
                "s_per_step_later": round(sum(steps[rows:]) / max(len(steps[rows:]), 1), 3),
                "train_loss": round(s["train_loss"], 4),
                "peak_memory_mb": max(r["peak_memory_mb"] for r in log),
            }
    print(f"\n{args.params}: {args.cases} training cases, {args.epochs} epochs")
    print(f"{'':24s}" + "".join(f"{m:>15s}" for m in MODES) + f"{'off / cached':>14s}{'off / frozen':>14s}")
    for key in ("steps", "train_wall_s", "s_per_step_epoch_1", "s_per_step_later", "train_loss", "peak_memory_mb"):
        values = [results[m][key] for m in MODES]
        ratios = [values[0] / v if v else float("nan") for v in values[1:]]
        print(f"{key:24s}" + "".join(f"{v:>15}" for v in values) + "".join(f"{r:>13.2f}x" for r in ratios))
    print(json.dumps(results))


def _time_steps() -> list[float]:
    """Seconds of each training step (forward and backward, the optimiser excluded), in order."""
    from pericomp_lib.training import sft

    times: list[float] = []
    real = sft.AnswerLossSFTTrainer.training_step

    def timed(self, *a, **kw):
        t0 = time.perf_counter()
        out = real(self, *a, **kw)
        times.append(time.perf_counter() - t0)
        return out

    sft.AnswerLossSFTTrainer.training_step = timed
    return times


if __name__ == "__main__":
    main()
