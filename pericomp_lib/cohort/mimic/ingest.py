"""MIMIC-IV tables -> subjects.jsonl (one consolidated line per patient), out of core with DuckDB.

The csv.gz files are loaded once into a DuckDB work database (sorted by subject, compressed, spilled to
disk under `temp_directory` when over `memory_limit`), then DuckDB itself aggregates each chunk of
subjects into JSON and we stream the lines to disk. Neither step holds the whole dataset in memory:
labevents (about 158 M rows in v3.1) streams within a few GB.

Optional tables (note/discharge, hosp/prescriptions, hosp/pharmacy, icu/icustays) may be missing: the
build goes on, logs one line per missing file with what the records or the Q&A context will lack, and
lists the table in IngestResult.missing_optional. In subjects.jsonl a missing table's key is absent from
every admission (a present table with no rows for an admission gives null), so readers can tell "not
recorded" from "none".
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ...core.io import atomic_lines
from .schema import KEEP, OPTIONAL, TABLES, WITHOUT

log = logging.getLogger(__name__)


class MimicError(ValueError):
    """A MIMIC-IV file that is missing, malformed or truncated; the message names the file and the fix."""


def table_path(mimic_dir: str | os.PathLike, table: str) -> Path | None:
    """hosp/<table>.csv.gz (or an unpacked .csv); None when absent."""
    rel = TABLES[table][0]
    for suffix in (".csv.gz", ".csv"):
        p = Path(mimic_dir) / f"{rel}{suffix}"
        if p.exists():
            return p
    return None


def check_header(path: Path, columns: list[str]) -> None:
    """Fail early and clearly on a file that is not gzip, empty, or has other columns than MIMIC-IV v3.1."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            first = fh.readline()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise MimicError(
            f"{path}: cannot be read as gzip-compressed CSV ({e}); re-download it from PhysioNet "
            "and check it against SHA256SUMS.txt"
        ) from None
    found = [c.strip().strip('"') for c in first.rstrip("\r\n").split(",")] if first else []
    if found != columns:
        raise MimicError(f"{path}: header is {found or '(empty file)'}; expected MIMIC-IV v3.1 columns {columns}")


@dataclass
class IngestResult:
    subjects_path: str
    n_subjects: int
    n_admissions: int
    n_lab_rows: int
    has_notes: bool
    seconds: float
    memory_limit: str
    tables: dict[str, str] = field(default_factory=dict)
    missing_optional: list[str] = field(default_factory=list)  # optional tables whose file was absent

    def as_dict(self) -> dict:
        return asdict(self)


def _connect(db_path: Path, memory_limit: str, temp_dir: Path, threads: int | None):
    import duckdb

    con = duckdb.connect(str(db_path))
    con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute(f"SET temp_directory='{temp_dir}'")
    con.execute("SET preserve_insertion_order=false")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    return con


def csv_source(table: str, path: str | os.PathLike) -> str:
    """The DuckDB read_csv(...) expression for a MIMIC-IV file, with the explicit v3.1 types (no auto-detection)."""
    cols = "{" + ", ".join(f"'{c}': '{t}'" for c, t in TABLES[table][1].items()) + "}"
    src = str(path).replace("'", "''")
    return f"read_csv('{src}', header=true, columns={cols}, quote='\"', escape='\"', auto_detect=false)"


def _load(con, table: str, path: Path) -> None:
    import duckdb

    columns = TABLES[table][1]
    check_header(path, list(columns))
    keep = ", ".join(KEEP.get(table, columns))
    order = " ORDER BY subject_id" if "subject_id" in columns else ""
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {keep} FROM {csv_source(table, path)}{order}")
    except duckdb.Error as e:
        raise MimicError(
            f"{path}: could not be read completely ({str(e).splitlines()[0]}); the file looks truncated "
            "or corrupt: re-download it from PhysioNet and check it against SHA256SUMS.txt"
        ) from None


_SUBJECT_SQL = """
WITH
dx AS (SELECT d.hadm_id, list({{'seq_num': d.seq_num, 'icd_code': d.icd_code, 'icd_version': d.icd_version,
                               'title': t.long_title}} ORDER BY d.seq_num) AS diagnoses
       FROM diagnoses_icd d LEFT JOIN d_icd_diagnoses t USING (icd_code, icd_version)
       WHERE d.subject_id BETWEEN $lo AND $hi GROUP BY d.hadm_id),
px AS (SELECT p.hadm_id, list({{'seq_num': p.seq_num, 'chartdate': p.chartdate, 'icd_code': p.icd_code,
                               'icd_version': p.icd_version, 'title': t.long_title}} ORDER BY p.chartdate,
                                   p.seq_num) AS procedures
       FROM procedures_icd p LEFT JOIN d_icd_procedures t USING (icd_code, icd_version)
       WHERE p.subject_id BETWEEN $lo AND $hi GROUP BY p.hadm_id),
{notes_cte}{extra_ctes}
adm AS (SELECT a.subject_id, list({{'hadm_id': a.hadm_id, 'admittime': a.admittime, 'dischtime': a.dischtime,
          'deathtime': a.deathtime, 'admission_type': a.admission_type, 'admission_location': a.admission_location,
          'discharge_location': a.discharge_location, 'hospital_expire_flag': a.hospital_expire_flag,
          'diagnoses': dx.diagnoses, 'procedures': px.procedures, 'notes': {notes_col}{extra_cols}}}
          ORDER BY a.admittime)
              AS admissions
        FROM admissions a LEFT JOIN dx USING (hadm_id) LEFT JOIN px USING (hadm_id) {notes_join}{extra_joins}
        WHERE a.subject_id BETWEEN $lo AND $hi GROUP BY a.subject_id),
lab AS (SELECT l.subject_id, list({{'charttime': l.charttime, 'hadm_id': l.hadm_id, 'itemid': l.itemid,
    'label': i.label,
          'fluid': i.fluid, 'value': l.value, 'valuenum': l.valuenum, 'valueuom': l.valueuom,
          'ref_range_lower': l.ref_range_lower, 'ref_range_upper': l.ref_range_upper, 'flag': l.flag}}
          ORDER BY l.charttime, l.itemid) AS labs
        FROM labevents l LEFT JOIN d_labitems i USING (itemid)
        WHERE l.subject_id BETWEEN $lo AND $hi GROUP BY l.subject_id)
SELECT to_json({{'subject_id': p.subject_id, 'gender': p.gender, 'anchor_age': p.anchor_age,
                 'anchor_year': p.anchor_year, 'anchor_year_group': p.anchor_year_group, 'dod': p.dod,
                 'admissions': adm.admissions, 'labs': lab.labs}})
FROM patients p LEFT JOIN adm USING (subject_id) LEFT JOIN lab USING (subject_id)
WHERE p.subject_id BETWEEN $lo AND $hi ORDER BY p.subject_id
"""
_NOTES_CTE = """nt AS (SELECT n.hadm_id, list({'note_id': n.note_id, 'note_type': n.note_type, 'note_seq': n.note_seq,
          'charttime': n.charttime, 'text': n.text} ORDER BY n.note_type DESC, n.note_seq) AS notes
       FROM discharge n WHERE n.subject_id BETWEEN $lo AND $hi GROUP BY n.hadm_id),"""
# Per-admission lists of the optional Q&A tables: (cte alias, struct of kept columns, order). The order ends
# with every kept column, so ties (same start time) come out the same on every run and thread count.
_EXTRA = {
    "prescriptions": (
        "rx",
        "starttime, stoptime, drug_type, drug, formulary_drug_cd, route, dose_val_rx, dose_unit_rx",
        "starttime, stoptime, drug, drug_type, formulary_drug_cd, route, dose_val_rx, dose_unit_rx",
    ),
    "pharmacy": (
        "ph",
        "starttime, stoptime, medication, route, frequency, status",
        "starttime, stoptime, medication, route, frequency, status",
    ),
    "icustays": (
        "icu",
        "stay_id, first_careunit, last_careunit, intime, outtime, los",
        "intime, stay_id, outtime, first_careunit, last_careunit, los",
    ),
}


def _extra_sql(present: list[str]) -> dict[str, str]:
    """SQL pieces for the optional per-admission tables that were loaded (absent ones leave no key)."""
    ctes, cols, joins = [], [], []
    for table in present:
        alias, fields, order = _EXTRA[table]
        struct = ", ".join(f"'{f.strip()}': t.{f.strip()}" for f in fields.split(","))
        order_by = ", ".join(f"t.{f.strip()}" for f in order.split(","))
        ctes.append(
            f"{alias} AS (SELECT t.hadm_id, list({{{struct}}} ORDER BY {order_by}) AS {table}\n"
            f"       FROM {table} t WHERE t.subject_id BETWEEN $lo AND $hi GROUP BY t.hadm_id),"
        )
        cols.append(f", '{table}': {alias}.{table}")
        joins.append(f" LEFT JOIN {alias} USING (hadm_id)")
    return {"extra_ctes": "\n".join(ctes), "extra_cols": "".join(cols), "extra_joins": "".join(joins)}


def size_mb(spec: str) -> float:
    """'512MB' / '2GB' / '1.5GiB' -> megabytes (DuckDB's memory_limit syntax)."""
    s = str(spec).strip().upper().replace("IB", "B").replace(" ", "")
    for unit, f in (("TB", 1024.0**2), ("GB", 1024.0), ("MB", 1.0), ("KB", 1 / 1024)):
        if s.endswith(unit):
            return float(s[: -len(unit)]) * f
    raise ValueError(f"memory_limit {spec!r}: write it like '512MB' or '2GB'")


def subject_chunks(
    con, max_subjects: int, max_lab_rows: int, tables: tuple[str, ...] = ("labevents",)
) -> list[tuple[int, int, int]]:
    """(first, last, n) subject-id ranges holding at most max_lab_rows list rows each (one heavy subject
    may exceed it alone): DuckDB's list aggregation cannot spill, so chunks are sized by the rows of the
    big per-subject tables (labevents, plus prescriptions and pharmacy when loaded)."""
    counts = " UNION ALL ".join(f"SELECT subject_id FROM {t}" for t in tables)
    rows = con.execute(f"""SELECT p.subject_id, coalesce(l.n, 0) FROM patients p
                          LEFT JOIN (SELECT subject_id, count(*) AS n FROM ({counts}) GROUP BY subject_id)
                              l USING (subject_id)
                          ORDER BY p.subject_id""").fetchall()
    chunks, start, n_sub, n_lab = [], None, 0, 0
    for i, (sid, n) in enumerate(rows):
        if start is not None and (n_sub >= max_subjects or n_lab + n > max_lab_rows):
            chunks.append((start, rows[i - 1][0], n_sub))
            start, n_sub, n_lab = None, 0, 0
        if start is None:
            start = sid
        n_sub, n_lab = n_sub + 1, n_lab + n
    if start is not None:
        chunks.append((start, rows[-1][0], n_sub))
    return chunks


def ingest(
    mimic_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    memory_limit: str = "2GB",
    threads: int | None = None,
    chunk_subjects: int = 2000,
    chunk_lab_rows: int | None = None,
    keep_db: bool = False,
) -> IngestResult:
    """Write out_dir/subjects.jsonl from mimic_dir/hosp (+ note/ and icu/ when present).

    Each line: {subject_id, gender, anchor_age, anchor_year, anchor_year_group, dod,
    admissions: [{hadm_id, admittime, ..., diagnoses: [...], procedures: [...], notes: [...]|null,
                  prescriptions: [...]|null, pharmacy: [...]|null, icustays: [...]|null}],
    labs: [{charttime, hadm_id, itemid, label, value, valuenum, valueuom, ref_range_lower, ref_range_upper, flag}]}.
    Lists are null when a subject has none; prescriptions/pharmacy/icustays keys are absent when their file
    is (see IngestResult.missing_optional). chunk_lab_rows (default: 150 per MB of memory_limit, measured)
    bounds the lab (+ medication) rows aggregated at once.
    """
    start = time.perf_counter()
    mimic_dir, out_dir = Path(mimic_dir), Path(out_dir)
    if not (mimic_dir / "hosp").is_dir():
        raise MimicError(
            f"{mimic_dir}: no hosp/ folder; point mimic_dir at the folder that holds hosp/ (and note/) "
            "as PhysioNet ships MIMIC-IV v3.1"
        )
    paths: dict[str, Path] = {}
    for table in TABLES:
        p = table_path(mimic_dir, table)
        if p is None and table not in OPTIONAL:
            raise MimicError(f"{mimic_dir / TABLES[table][0]}.csv.gz: required MIMIC-IV file is missing")
        if p is not None:
            paths[table] = p
    missing_optional = [t for t in TABLES if t in OPTIONAL and t not in paths]
    for table in missing_optional:
        log.warning("%s.csv.gz: optional MIMIC-IV file missing; %s", mimic_dir / TABLES[table][0], WITHOUT[table])
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "mimic_work.duckdb"
    tmp_dir = out_dir / ".duckdb_tmp"
    db_path.unlink(missing_ok=True)
    con = _connect(db_path, memory_limit, tmp_dir, threads)
    try:
        for table, path in tqdm(list(paths.items()), desc="load MIMIC tables", unit="table"):
            _load(con, table, path)
        has_notes = "discharge" in paths
        sql = _SUBJECT_SQL.format(
            notes_cte=_NOTES_CTE if has_notes else "",
            notes_col="nt.notes" if has_notes else "NULL",
            notes_join="LEFT JOIN nt USING (hadm_id)" if has_notes else "",
            **_extra_sql([t for t in _EXTRA if t in paths]),
        )
        big = ("labevents", *[t for t in ("prescriptions", "pharmacy") if t in paths])
        chunks = subject_chunks(
            con, chunk_subjects, chunk_lab_rows or max(20_000, int(size_mb(memory_limit) * 150)), big
        )
        n_subjects = sum(c[2] for c in chunks)
        n_adm = con.execute("SELECT count(*) FROM admissions").fetchone()[0]
        n_lab = con.execute("SELECT count(*) FROM labevents").fetchone()[0]
        subjects_path = out_dir / "subjects.jsonl"
        with atomic_lines(subjects_path) as fh, tqdm(total=n_subjects, desc="subjects.jsonl", unit="subject") as bar:
            for lo, hi, n in chunks:
                cur = con.execute(sql, {"lo": lo, "hi": hi})
                while rows := cur.fetchmany(200):
                    fh.write("".join(r[0] + "\n" for r in rows))
                bar.update(n)
    finally:
        con.close()
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if not keep_db:
            db_path.unlink(missing_ok=True)
            Path(str(db_path) + ".wal").unlink(missing_ok=True)
    return IngestResult(
        str(subjects_path),
        n_subjects,
        n_adm,
        n_lab,
        has_notes,
        round(time.perf_counter() - start, 2),
        memory_limit,
        {t: str(p) for t, p in paths.items()},
        missing_optional,
    )
