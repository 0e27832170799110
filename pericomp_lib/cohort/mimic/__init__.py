"""MIMIC-IV (hosp + optional note/icu) -> subject-keyed JSONL -> perioperative cases with silver ICD labels.

For the chart Q&A study, column_selection ranks the chart's `table.column`s by how much they tell a model
about the patient's diagnoses, so the Q&A context can leave the uninformative ones out.

MIMIC-IV is credentialed data: nothing of it belongs in this repository. Tests and the demo use a
generated MIMIC-shaped fixture with fake values (`make_fixture`). See docs/mimic.md.
"""

from .cases import render_record, silver_labels, subject_split
from .cohort import MimicCohort, build_cohort, build_mimic, iter_subjects, resolve_mimic_dir
from .cohort_report import cli, label_frequencies, overview, record_lengths, show_subject
from .column_selection import (
    PROTECTED,
    column_importance,
    columns_to_drop,
    rank_columns,
    subject_features,
    table_importance,
    write_selection,
)
from .fixture import make_fixture
from .icd import IcdMap, format_dx, format_px, is_surgical, load_icd_map
from .ingest import IngestResult, MimicError, ingest
from .large_labevents import make_large_labevents

__all__ = [
    "PROTECTED",
    "column_importance",
    "columns_to_drop",
    "rank_columns",
    "subject_features",
    "table_importance",
    "write_selection",
    "MimicCohort",
    "build_cohort",
    "build_mimic",
    "cli",
    "iter_subjects",
    "label_frequencies",
    "overview",
    "record_lengths",
    "resolve_mimic_dir",
    "show_subject",
    "make_fixture",
    "make_large_labevents",
    "IcdMap",
    "format_dx",
    "format_px",
    "is_surgical",
    "load_icd_map",
    "IngestResult",
    "MimicError",
    "ingest",
    "render_record",
    "silver_labels",
    "subject_split",
]
