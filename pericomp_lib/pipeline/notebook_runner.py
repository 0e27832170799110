"""One notebook run with papermill, its printed output streamed so that a long stage is never silent."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .stages import NOTEBOOKS

QUIET = ("FutureWarning", "DeprecationWarning", "TqdmWarning", "warnings.warn(", "from .autonotebook import")


class StageOutput:
    """What a running notebook prints, streamed as prefixed lines so a long stage is never silent: its
    stdout (at most `max_lines` lines per print, the rest stays in the executed notebook) and its stderr
    (progress bars, at most one update per `every` seconds per bar, and warnings other than deprecations).
    Tables and figures are not streamed. papermill's own log (a warning for every params key a notebook
    takes through notebook_params.from_notebook) and the kernel's TCP warning do not reach the terminal."""

    def __init__(self, prefix: str, out=None, every: float = 15.0, max_lines: int = 4):
        self.prefix, self.out, self.every, self.max_lines = prefix, out or sys.stdout, every, max_lines
        self.last_bar: dict[str, float] = {}
        self.quiet_next = False

    def write(self, text: str) -> int:
        raw = [ln.rstrip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
        if raw and self.quiet_next and raw[0].startswith(" "):  # the source line under a dropped warning
            raw = raw[1:]
        self.quiet_next = bool(raw) and any(q in raw[-1] for q in QUIET)
        lines = [
            ln
            for i, ln in enumerate(raw)
            if not any(q in ln for q in QUIET)
            and not (i and ln.startswith(" ") and any(q in raw[i - 1] for q in QUIET))
        ]
        bars = [ln for ln in lines if "%|" in ln]
        if bars:  # a progress bar's newest state, throttled per bar name
            name, now = bars[-1].split("%|")[0].rstrip("0123456789 ").rstrip(":"), time.time()
            if now - self.last_bar.get(name, 0.0) >= self.every or "100%|" in bars[-1]:
                self.last_bar[name] = now
                print(self.prefix + bars[-1].strip(), file=self.out, flush=True)
            lines = [ln for ln in lines if "%|" not in ln]
        for ln in lines[: self.max_lines]:
            print(self.prefix + ln, file=self.out, flush=True)
        if len(lines) > self.max_lines:
            print(
                f"{self.prefix}... ({len(lines) - self.max_lines} more lines in the executed notebook)",
                file=self.out,
                flush=True,
            )
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
        pm.execute_notebook(
            str(NOTEBOOKS / name),
            str(out_path),
            parameters=parameters,
            cwd=str(NOTEBOOKS),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            stdout_file=sink,
            stderr_file=sink,
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    finally:
        pm_log.setLevel(level)
