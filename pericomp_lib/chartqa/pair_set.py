"""A run's pair set (stage 02b): the column selection over its subjects, then the chart's instruction pairs.

The selection runs first because the pairs' contexts must be the contexts the trials will show: both leave out
the same table.columns (qa_selection.json), so training and answering read one context.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

from ..core.io import write_json
from . import pairs, qa

log = logging.getLogger(__name__)

PAIRS = "qa_pairs.jsonl"


def make_pair_set(params: dict, run_dir: str | os.PathLike) -> dict:
    """Column selection (column_importance.csv, top/least_tables.csv, qa_selection.json) and qa_pairs.jsonl."""
    from ..cohort.mimic import column_selection

    run_dir = Path(run_dir)
    subjects = qa.load_subjects(run_dir / "subjects.jsonl")
    seed = int(params["seed"])
    importance = column_selection.column_importance(list(subjects.values()), seed=seed)
    selection = column_selection.write_selection(run_dir, importance, float(params["qa_column_drop_below"]))
    write_json(run_dir / qa.SELECTION_FILE, selection)
    drop = frozenset(selection["dropped"])
    made = pairs.build_pairs(list(subjects.values()), seed, int(params["qa_pairs_per_subject"]), drop=drop)
    pairs.write_pairs(run_dir / PAIRS, made)
    splits = Counter(p["split"] for p in made)
    topics = Counter(p["topic"] for p in made)
    report = {
        "subjects": len(subjects),
        "pairs": len(made),
        "pairs_by_split": dict(splits),
        "pairs_by_topic": dict(topics.most_common()),
        "dropped_columns": sorted(drop),
    }
    write_json(run_dir / "qa_pairs_report.json", report)
    log.info("%s: %d pairs from %d subjects (%s)", run_dir / PAIRS, len(made), len(subjects), dict(splits))
    return report
