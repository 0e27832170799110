"""Issue 14: no silent wrong results. Each test here failed on the code before the fix it names."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from pericomp_lib import records


def _case(case_id: str, split: str = "validation", gold=None, language: str = "en") -> dict:
    return {"case_id": case_id, "center": "c1", "split": split, "language": language,
            "record": "Day 3: fever 38.6 C.", "gold": gold or [], "human": None}


def _write_cohort(path: Path, cases: list[dict], prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases).encode("utf-8"))
    return path


# ------------------------------------------------------------------------------------ minor items (9)
def test_atomic_outputs_follow_the_umask(tmp_path):
    from pericomp_lib.io import write_json

    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # mkstemp alone gave 0600


def test_decoding_error_names_file_and_line(tmp_path):
    path = tmp_path / "cohort.jsonl"
    good = json.dumps(_case("a")).encode()
    path.write_bytes(good + b"\n" + good.replace(b'"a"', b'"b"').replace(b"fever", b"fi\xe8vre") + b"\n")
    with pytest.raises(records.CohortError, match=r"cohort\.jsonl:2: .*not UTF-8"):
        records.load_cohort(path)


def test_csv_decoding_error_names_file_and_line(tmp_path):
    from pericomp_lib.sources.user_files import load_csv

    path = tmp_path / "cases.csv"
    path.write_bytes("case_id,record,labels,split\n1,ok,,train\n2,".encode() + "发热".encode("gb18030") + b",,train\n")
    with pytest.raises(records.CohortError, match=r"cases\.csv:3: .*not UTF-8"):
        load_csv(path, center="c1", language="zh")


def test_bom_is_accepted_in_jsonl_as_in_csv(tmp_path):
    from pericomp_lib.sources.user_files import load_csv

    cases = records.load_cohort(_write_cohort(tmp_path / "c.jsonl", [_case("a"), _case("b")], b"\xef\xbb\xbf"))
    assert [c.case_id for c in cases] == ["a", "b"]
    csv_path = tmp_path / "c.csv"
    csv_path.write_bytes(b"\xef\xbb\xbfcase_id,record,labels,split\na,ok,,train\n")
    assert [c.case_id for c in load_csv(csv_path, center="c1", language="en")] == ["a"]


# ----------------------------------------------------------------------------------- zh definitions
def test_packaged_zh_definitions_parse_in_the_authors_layout():
    from pericomp_lib import prompts, taxonomy

    path = prompts.packaged_definitions_path("zh")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("## 术后并发症类别") and "\n## 常规分级\n" in text
    defs = prompts.load_definitions("zh")
    assert defs.language == "zh" and list(defs.sections) == list(taxonomy.IDS)
    assert all(defs.headings[c] == taxonomy.zh_heading(c) for c in taxonomy.IDS)
    assert "常规分级" not in defs.criteria("arrhythmia") and "轻度" in defs.criteria("arrhythmia")
    # our own wording, not the authors' file
    authors = ROOT.parent / "shared" / "pericomp-public" / "prompt" / "defination_modified.md"
    if authors.exists():
        theirs = set(authors.read_text(encoding="utf-8").splitlines())
        ours = [line for line in text.splitlines() if len(line.strip()) > 12 and not line.startswith("#")]
        assert sum(line in theirs for line in ours) < len(ours) // 10
