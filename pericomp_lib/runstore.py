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
import os
from pathlib import Path
from typing import Any, Iterable

from .io import atomic_write_text

FIELDS = ("case_id", "item", "model", "prompt_hash", "text", "n_tokens", "seconds", "batch")


def prompt_hash(*parts: Any) -> str:
    """Stable short hash of the prompt pieces and generation settings (any JSON-able values)."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


class RunStore:
    """Append-only answers of one run folder, indexed by (case_id, item, model)."""

    def __init__(self, path: str | os.PathLike, log=print):
        self.path = Path(path)
        self.rows: dict[tuple[str, str, str], dict] = {}
        self.n_lines = 0
        self.problems: list[str] = []
        self.log = log
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
            self.problems.append(f"{self.path}:{len(lines) + 1}: last line is cut off ({len(tail)} bytes, the run "
                                 "was interrupted while writing); its answer will be generated again")
        if self.problems:
            for p in self.problems:
                self.log(f"raw.jsonl repair: {p}")
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
