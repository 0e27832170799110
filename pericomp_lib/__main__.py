"""`python -m pericomp_lib <command>`: thin entry points; each command lives in its module's `cli`."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "format-results": ("pericomp_lib.inference.result_files", "turn raw model outputs into the paper's result files"),
    "evaluate": ("pericomp_lib.evaluation.cli", "write the paper's evaluation tables from a PeriComp clone or runs"),
    "baseline": ("pericomp_lib.evaluation.baseline", "train and evaluate the TF-IDF classical baseline on a cohort"),
    "batch": ("pericomp_lib.pipeline.batch", "run the numbered notebooks for params files x seeds with papermill"),
    "mimic": (
        "pericomp_lib.cohort.mimic.cohort_report",
        "MIMIC-IV hosp(+note) tables -> subjects.jsonl -> cohort.jsonl",
    ),
    "qa": ("pericomp_lib.chartqa.qa", "answer a question about one MIMIC subject from its chart (the chart Q&A study)"),
    "plan": ("pericomp_lib.training.plan", "parameters, GPU memory and time of params files, computed on the CPU"),
    "prepare-model": (
        "pericomp_lib.llm.models",
        "convert / build a built-in model (smollm2-135m, tiny-random) offline",
    ),
}


OUTPUT_OPTIONS = "the command's output option (--out, --runs-dir)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        print("usage: python -m pericomp_lib <command> [options]\n\ncommands:")
        for name, (_, help_) in COMMANDS.items():
            print(f"  {name:15s} {help_}")
        return 0 if not argv or argv[0] in {"-h", "--help"} else 2
    from .core.logs import show_logs
    from .core.params import ParamsError

    show_logs()
    module = importlib.import_module(COMMANDS[argv[0]][0])
    try:
        return int(module.cli(argv[1:]) or 0)
    except ParamsError as e:  # a mistake in a params file or value: one line naming the key, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped by Ctrl-C", file=sys.stderr)
        return 130
    except OSError as e:  # an unwritable or vanished output folder, a full disk: one line, not a traceback
        from .core.io import what_to_do

        print(f"error: {what_to_do(e, OUTPUT_OPTIONS)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
