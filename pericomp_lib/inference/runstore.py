"""raw.jsonl: every model answer, appended and fsynced the moment it exists, so a run resumes anywhere.

One line per answer: case_id, item (a complication id, or "comprehensive"), model (base|adapter),
prompt_hash (of the prompt and the settings that shape the answer), text, n_tokens, seconds, batch.
A re-run skips every (case_id, item, model) whose prompt_hash matches; changed prompts or settings get
new lines (the newest line for a key wins). A half-written last line (the process died mid-write) or
a broken line anywhere is reported, dropped from the file and its answer generated again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.io import atomic_write_text, read_json, write_json

log = logging.getLogger(__name__)

FIELDS = ("case_id", "item", "model", "prompt_hash", "text", "n_tokens", "seconds", "batch", "p_true", "backoff")


def prompt_hash(*parts: Any) -> str:
    """Stable short hash of the prompt pieces and generation settings (any JSON-able values)."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


class RunStore:
    """Append-only answers of one run folder, indexed by (case_id, item, model)."""

    def __init__(self, path: str | os.PathLike, repair: bool = True):
        self.path = Path(path)
        self.rows: dict[tuple[str, str, str], dict] = {}
        self.n_lines = 0
        self.problems: list[str] = []
        self.repair = repair  # False: only look (check()), never rewrite the file
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline, else a half-written line
        good: list[bytes] = []
        for lineno, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            row = self._decode(raw, lineno)
            if row is not None:
                good.append(raw)
                self.rows[(row["case_id"], row["item"], row["model"])] = row
        if tail.strip():
            self.problems.append(
                f"{self.path}:{len(lines) + 1}: last line is cut off ({len(tail)} bytes, the run "
                "was interrupted while writing); its answer will be generated again"
            )
        if self.problems and self.repair:
            for p in self.problems:
                log.warning("raw.jsonl repair: %s", p)
            atomic_write_text(self.path, "".join(g.decode("utf-8") + "\n" for g in good))
        self.n_lines = len(good)

    def _decode(self, raw: bytes, lineno: int) -> dict | None:
        where = f"{self.path}:{lineno}"
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            self.problems.append(f"{where}: not valid JSON ({e}); dropped, its answer will be generated again")
            return None
        missing = [f for f in FIELDS[:5] if not isinstance(row, dict) or f not in row]
        if missing:
            self.problems.append(f"{where}: missing field(s) {', '.join(missing)}; dropped, will be generated again")
            return None
        return row

    def get(self, case_id: str, item: str, model: str, phash: str) -> dict | None:
        """The stored answer when its prompt_hash matches the current prompt and settings."""
        row = self.rows.get((case_id, item, model))
        return row if row is not None and row["prompt_hash"] == phash else None

    def append(self, row: dict) -> None:
        """Write one answer line and force it to disk before returning."""
        missing = [f for f in FIELDS[:5] if f not in row]
        if missing:
            raise ValueError(f"raw.jsonl row lacks {', '.join(missing)}: {row!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({k: row.get(k) for k in FIELDS}, ensure_ascii=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self.rows[(row["case_id"], row["item"], row["model"])] = row
        self.n_lines += 1

    def answers(self, keys: Iterable[tuple[str, str, str, str]]) -> dict[tuple[str, str, str], str]:
        """{(case_id, item, model): text} for the (case_id, item, model, prompt_hash) keys that are stored."""
        out = {}
        for case_id, item, model, phash in keys:
            row = self.get(case_id, item, model, phash)
            if row is not None:
                out[(case_id, item, model)] = row["text"]
        return out


def check(path: str | os.PathLike) -> list[str]:
    """Problems of a raw.jsonl (broken or cut-off lines, with file:line), without touching the file."""
    return RunStore(path, repair=False).problems


# ------------------------------------------------------------------- what a run folder owes and holds
REPORT = "inference_report.json"
HASH_LIMIT = 64 * 1024 * 1024  # files up to this size are digested by content, bigger ones by size + mtime


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of the content for files up to HASH_LIMIT; size and mtime for bigger ones (model weights),
    which are too slow to read at every batch start and are replaced, not edited, in practice."""
    path = Path(path)
    st = path.stat()
    if st.st_size > HASH_LIMIT:
        return f"size:{st.st_size}:mtime_ns:{st.st_mtime_ns}"
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def path_digest(path: str | os.PathLike) -> str | dict | None:
    """file_digest of a file; {relative path: file_digest} of every file in a folder (names starting
    with '.' skipped: caches, temp files); None when the path does not exist."""
    path = Path(path)
    if path.is_file():
        return file_digest(path)
    if path.is_dir():
        return {
            str(f.relative_to(path)): file_digest(f)
            for f in sorted(path.rglob("*"))
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
        }
    return None


def write_inference_report(out_dir: str | os.PathLike, cases, answers: dict, summary) -> dict:
    """Stage 04's account of what it owes: every case x model must have all its answers.

    Writes out_dir/inference_report.json: n_cases, case_ids (the cases owed, in order), n_failed (answers
    that failed in this run), n_missing (cases lacking an answer of any model), per model the missing ids,
    the errors, and `complete`. The batch runner marks stage 04 done only when complete is true.
    """
    ids = [c.case_id for c in cases]
    models = {}
    lacking: set[str] = set()
    for which, per_case in answers.items():
        missing = [i for i in ids if i not in per_case]
        lacking.update(missing)
        models[which] = {"answered": len(ids) - len(missing), "missing": missing}
    n_failed = int(getattr(summary, "failed", 0) or 0)
    report = {
        "n_cases": len(ids),
        "case_ids": ids,
        "n_failed": n_failed,
        "n_missing": len(lacking),
        "models": models,
        "errors": list(getattr(summary, "errors", []) or [])[:20],
        "complete": n_failed == 0 and not lacking,
    }
    write_json(Path(out_dir) / REPORT, report)
    if not report["complete"]:
        log.warning(incomplete_message(report))
    return report


def incomplete_message(report: dict) -> str:
    parts = [
        f"{m}: {len(v['missing'])} case(s) lack answers ({', '.join(v['missing'][:5])}"
        f"{' ...' if len(v['missing']) > 5 else ''})"
        for m, v in report.get("models", {}).items()
        if v["missing"]
    ]
    first = report.get("errors", [""])[0] if report.get("errors") else ""
    return (
        f"INCOMPLETE: {report.get('n_failed', 0)} answer(s) failed; "
        + "; ".join(parts)
        + (f"; first error: {first[:200]}" if first else "")
        + ". The predictions leave these cases out. Run stage 04 again (the same batch command) to retry them; "
        "the stage is not marked complete until every answer exists."
    )


def inference_incomplete(run_dir: str | os.PathLike) -> str | None:
    """Why stage 04 of run_dir is not complete (its report), or None when every answer exists."""
    path = Path(run_dir) / REPORT
    if not path.exists():
        return f"{path} missing: stage 04 did not finish"
    try:
        report = read_json(path)
    except ValueError as e:
        return str(e)
    return None if report.get("complete") else incomplete_message(report)


def owed_cases(run_dir: str | os.PathLike) -> list[str] | None:
    """The case ids stage 04 answered for (its report), or None for runs without a report."""
    path = Path(run_dir) / REPORT
    return [str(i) for i in read_json(path).get("case_ids", [])] if path.exists() else None
