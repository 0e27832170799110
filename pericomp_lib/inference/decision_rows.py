"""decisions.csv: P(True) of every targeted question beside its gold answer, as inference records it.

The writer lives with inference (04) and the reader with scoring (decisions.py, 05), so neither stage
imports the other's module; COLUMNS is the contract between them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..core import taxonomy
from ..core.io import atomic_write_text

COLUMNS = ["split", "case_id", "complication", "model", "gold", "p_true"]


def frame(cases: Sequence, p_true: Mapping[str, Mapping[str, Mapping[str, float | None]]], split: str) -> pd.DataFrame:
    """One row per (model, case, complication asked) with the gold answer and P(True) (None when the
    answer never reached a decision, e.g. free generation that did not write "bool")."""
    by_id = {c.case_id: c for c in cases}
    rows = []
    for model, per_case in p_true.items():
        for case_id, items in per_case.items():
            case = by_id.get(case_id)
            if case is None:
                continue
            gold = {g.complication for g in case.gold}
            for cid, p in items.items():
                if cid in taxonomy.IDS:
                    rows.append(
                        {
                            "split": split,
                            "case_id": case_id,
                            "complication": cid,
                            "model": model,
                            "gold": int(cid in gold),
                            "p_true": p,
                        }
                    )
    return pd.DataFrame(rows, columns=COLUMNS)


def write(out_dir: str | os.PathLike, frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    df = pd.concat(
        [f for f in frames if f is not None and not f.empty] or [pd.DataFrame(columns=COLUMNS)], ignore_index=True
    )
    atomic_write_text(Path(out_dir) / "decisions.csv", df.to_csv(index=False))
    return df
