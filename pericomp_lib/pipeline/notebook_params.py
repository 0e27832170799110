"""How a notebook stage gets its params and its run folder: the precedence of defaults, the run's params.json,
the params file and papermill's injected parameters (`resolve`, `from_notebook` in each setup cell), and which
injected names are typos. What a key is and how a params file is read and checked is params.py's.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..core.params import (
    DEFAULT_PROFILE,
    DEFAULTS,
    FIELDS,
    REQUIRED_IN_FILE,
    ROOT,
    ParamsError,
    read_params_file,
    repo_path,
    resolve_paths,
    validate,
)

log = logging.getLogger(__name__)


STAGES_WRITING = ("01", "01b", "02", "03", "04", "02b", "03b", "04b")  # stages that may write RUN_DIR/params.json


# What people write for "no value" where it arrives as text: papermill turns `-p key None` into None, but
# `-p key null`, `-r key None` and a YAML `key: None` (YAML's null is `null` or `~`) arrive as strings.
NULL_TEXTS = frozenset({"None", "null", "Null", "NULL", "~"})  # not "none": a value of quantization, report_to


def nulls(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`values` with every params key given as a null text (NULL_TEXTS) made None where the key takes None
    (complications: all 22, adapter: none...); a key that cannot be None fails, in one line. Never kept as the
    string "None"."""
    out = dict(values)
    for key, value in values.items():
        if key not in FIELDS or not isinstance(value, str) or value.strip() not in NULL_TEXTS:
            continue
        try:
            validate({key: None})
        except ParamsError:
            raise ParamsError(
                f"{where}: {key}={value!r} reads as null, which {key} cannot be (default: "
                f"{DEFAULTS[key]!r}); give it a value, or leave it out for the default"
            ) from None
        out[key] = None
    return out


def default_run_dir(params: Mapping[str, Any]) -> Path:
    return ROOT / "runs" / params["run_name"] / f"seed-{params['seed']}"


def resolve(
    stage: str,
    params_path: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    default_run_dir_: Callable[[Mapping], Path] = default_run_dir,
    write: bool | None = None,
    quiet: bool = False,
    **given: Any,
) -> tuple[dict[str, Any], Path]:
    """The params of one notebook stage and its run folder.

    Precedence, lowest first: DEFAULTS < the run's params.json (stages after 01, when it exists) < the params
    file (`params_path`; with no params_path and no whole profile given, the CPU default profile
    params/smollm2-135m.yaml) < `given` (papermill's `-f FILE` / `-p key value`). A whole profile is given
    when both run_name and model_name_or_path are (every params file has them), so `-f params/x.yaml`
    replaces the default profile. Relative paths resolve against the repository root. Stages 01-04 write the
    resolved params to RUN_DIR/params.json (the run's provenance) and log which keys changed (`quiet`: not).
    """
    first = stage in ("01", "01b")
    given = nulls(given, "notebook parameters")
    whole_profile = all(k in given for k in REQUIRED_IN_FILE)
    chain, base = [], {}
    if params_path:
        ppath = repo_path(params_path)
        base.update(nulls(read_params_file(ppath), str(ppath)))
        chain.append(_short(ppath))
    elif not whole_profile:
        base.update(read_params_file(ROOT / DEFAULT_PROFILE))
        chain.append(DEFAULT_PROFILE + " (the default profile)")
    merged = {**base, **given}
    where = " < ".join(["defaults", *chain] + (["notebook parameters"] if given else []))
    params = resolve_paths(validate(merged, where))
    rdir = repo_path(run_dir) if run_dir is not None else default_run_dir_(params)
    stored_path = rdir / "params.json"
    stored = None
    if stored_path.exists():
        stored = read_params_file(stored_path, require=())
        if not first:  # later stages start from what the run recorded
            merged = {**stored, **(base if params_path else {}), **given}
            where = " < ".join(
                ["defaults", _short(stored_path), *(chain if params_path else [])]
                + (["notebook parameters"] if given else [])
            )
            params = resolve_paths(validate(merged, where))
    if (stage in STAGES_WRITING if write is None else write) and stored != params:
        from ..core.io import write_json

        changed = sorted(k for k in params if stored is not None and stored.get(k) != params[k])
        write_json(stored_path, params)
        if changed and not quiet:
            log.info("params: %s changed; %s updated", ", ".join(changed), _short(stored_path))
    if not quiet:
        log.info("params: %s; run folder: %s", where, _short(rdir))
    return params, rdir


def _short(path: Path) -> str:
    try:
        return str(Path(path).relative_to(ROOT))
    except ValueError:
        return str(path)


def from_notebook(namespace: Mapping[str, Any], stage: str, **kw: Any) -> tuple[dict[str, Any], Path]:
    """`params, run_dir = from_notebook(globals(), "02")` in a notebook's setup cell.

    Takes every params key papermill injected (`-f FILE`, `-p key value`) plus `params_path` and `run_dir`
    from the parameters cell, and resolves them with `resolve` (keyword arguments go to it). An injected name
    that is neither a params key nor a parameter of the notebook fails (a typo such as `-p lora_rank 8`).
    """
    unknown = sorted(injected_names(namespace) - set(FIELDS) - declared_names(namespace))
    if unknown:
        raise ParamsError(
            f"unknown parameter(s) {', '.join(unknown)}: not a params key nor a parameter of this "
            f"notebook ({', '.join(sorted(declared_names(namespace)))}); params keys: "
            f"{', '.join(sorted(FIELDS))}"
        )
    given = {k: namespace[k] for k in FIELDS if k in namespace}
    return resolve(stage, namespace.get("params_path"), namespace.get("run_dir"), **kw, **given)


def _history(namespace: Mapping[str, Any]) -> list[str]:
    hist = namespace.get("In") or namespace.get("_ih") or []
    return [h for h in hist if isinstance(h, str)]


def _assigned(src: str) -> set[str]:
    return set(re.findall(r"^([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)", src, flags=re.M))


def injected_names(namespace: Mapping[str, Any]) -> set[str]:
    """Names papermill injected: its cell starts with '# Parameters' (read from the kernel's input history)."""
    return set().union(*[_assigned(h) for h in _history(namespace) if h.lstrip().startswith("# Parameters")])


def declared_names(namespace: Mapping[str, Any]) -> set[str]:
    """Names the notebook's own parameters cell assigns (the cell run just before papermill's)."""
    hist = _history(namespace)
    out: set[str] = set()
    for i, h in enumerate(hist):
        if h.lstrip().startswith("# Parameters") and i > 0:
            out |= _assigned(hist[i - 1])
    return out
