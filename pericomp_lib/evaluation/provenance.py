"""Which model, prompting strategy and prompt layout one run folder used.

Why: run_metrics.csv does not say which model or strategy produced it, yet the figures of our runs label
every box with it. RUN_DIR/params.json (the run folder contract) answers; runs older than that contract
are read from what they did leave behind, and `source` says which file answered.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from ..llm.model_names import model_label

log = logging.getLogger(__name__)

FIELDS = ("model_name_or_path", "strategy", "prompt_layout")


class _Found:
    """The fields found so far and where each batch came from; earlier sources win."""

    def __init__(self) -> None:
        self.info: dict = dict.fromkeys(FIELDS)
        self.sources: list[str] = []

    def take(self, found: Mapping, where: str) -> None:
        got = [k for k in self.info if self.info[k] is None and found.get(k) is not None]
        for k in got:
            self.info[k] = found[k]
        if got:
            self.sources.append(where)

    def complete(self) -> bool:
        return all(v is not None for v in self.info.values())


def _take_json(found: _Found, path: Path, key: str | None = None) -> None:
    """Params from a JSON file (under `key` when given); an unreadable file is warned about, then passed over."""
    if not path.exists():
        return
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        found.take((obj.get(key) or {}) if key else obj, str(path))
    except (json.JSONDecodeError, AttributeError) as e:
        log.warning("%s: unreadable (%s); looking elsewhere for the run's params", path, e)


def _take_notebooks(found: _Found, run_dir: Path) -> None:
    """Papermill parameters of the executed notebooks (02: strategy, layout; 03/04: the params file)."""
    from ..core.params import load_params

    for nb in sorted((run_dir / "notebooks").glob("*.ipynb")):
        if found.complete():
            return
        try:
            params = json.loads(nb.read_text(encoding="utf-8"))["metadata"]["papermill"]["parameters"]
        except (json.JSONDecodeError, KeyError, TypeError, OSError):
            continue
        found.take(params, str(nb))
        if params.get("params_path") and Path(params["params_path"]).exists():
            try:
                found.take(load_params(params["params_path"]), params["params_path"])
            except (ValueError, OSError) as e:
                log.warning("%s: params file %s unreadable: %s", nb, params["params_path"], e)


def run_info(run_dir: str | os.PathLike) -> dict:
    """model_name_or_path, strategy, prompt_layout, model_label, size_label and source of one run folder.

    Read in order: params.json (the run's resolved params, written by its first stage), then for older
    runs adapter/training_params.json ({"params": {...}}, written by 03_finetune), the executed notebooks'
    papermill parameters, then which prompts file exists; the model falls back to the run folder name.
    """
    run_dir = Path(run_dir)
    found = _Found()
    _take_json(found, run_dir / "params.json")
    _take_json(found, run_dir / "adapter" / "training_params.json", key="params")
    _take_notebooks(found, run_dir)
    if found.info["strategy"] is None:
        for strategy in ("targeted", "comprehensive"):
            if (run_dir / f"{strategy}_prompts.json").exists():
                found.take({"strategy": strategy}, f"{strategy}_prompts.json")
                break
    if found.info["model_name_or_path"] is None:
        folder = run_dir.parent.name if run_dir.name.startswith("seed-") else run_dir.name
        found.take({"model_name_or_path": folder}, "run folder name")
    info = found.info
    info["model_label"], info["size_label"] = model_label(info["model_name_or_path"])
    info["source"] = "; ".join(found.sources)
    return info
