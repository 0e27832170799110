"""Counterfactual twins of troponin traps: the same course without the fact that rules the injury out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pericomp_lib.cohort.synthetic import TWINS, criteria, generate_cohort
from pericomp_lib.core import records
from pericomp_lib.core.params import load_params

ROOT = Path(__file__).resolve().parents[1]
TNT = re.compile(r"TnT\)?[^0-9]{0,12}(\d+\.\d+)")


def _pairs(cases):
    by_id = {c.case_id: c for c in cases}
    return [(by_id[c.meta["twin_of"]], c) for c in cases if c.meta.get("twin_of")]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_twins_add_training_cases_only_and_flip_myocardial_injury(tmp_path, language):
    plain = generate_cohort(120, language, seed=31, difficulty=0.8, record_length="notes")
    cases = generate_cohort(120, language, seed=31, difficulty=0.8, record_length="notes", twins=TWINS)
    own = [c for c in cases if not c.meta.get("twin_of")]
    # the cohort itself is unchanged, but for the renal traps' training quotes (trap_evidence, next tests)
    same = lambda c: {**c.to_dict(), "meta": {k: v for k, v in c.meta.items() if k != "trap_evidence"}}  # noqa: E731
    assert [same(c) for c in own] == [same(c) for c in plain]
    changed = [c.case_id for c, p in zip(own, plain, strict=True) if c.meta != p.meta]
    assert changed and all(c.split == "train" and "tnt_renal" in c.meta["traps"] for c in own if c.case_id in changed)
    pairs = _pairs(cases)
    assert {c.meta["twin_trap"] for _, c in pairs} == set(TWINS)
    laid = sum(t in TWINS for c in plain if c.split == "train" for t in c.meta["traps"])
    assert 0.5 * laid <= len(pairs) <= laid  # a twin whose gold would change elsewhere too is left out
    for case, twin in pairs:
        assert case.split == twin.split == "train" and twin.case_id == f"{case.case_id}-twin"
        assert cases.index(twin) > cases.index(case)
        gold, twin_gold = {g.complication for g in case.gold}, {g.complication for g in twin.gold}
        assert twin_gold - gold == {"myocardial_injury"} and not gold - twin_gold
        injury = next(g for g in twin.gold if g.complication == "myocardial_injury")
        assert injury.evidence_kind == "criteria" and "myocardial_injury" in case.meta["trap_for"]
        assert twin.meta["traps"] == [t for t in case.meta["traps"] if t != twin.meta["twin_trap"]]
    loaded = records.load_cohort(records.write_cohort(tmp_path / "cohort.jsonl", cases))  # evidence in the record
    assert len(loaded) == len(cases)


def test_a_renal_twin_drops_the_history_and_a_near_twin_raises_the_troponin():
    cases = generate_cohort(160, "en", seed=32, difficulty=0.8, record_length="notes", twins=TWINS)
    kinds = set()
    for case, twin in _pairs(cases):
        kind = twin.meta["twin_trap"]
        kinds.add(kind)
        before = [float(v) for v in TNT.findall(case.record)]
        after = [float(v) for v in TNT.findall(twin.record)]
        if kind == "tnt_renal":
            assert "chronic kidney disease" in case.record and "chronic kidney disease" not in twin.record
            assert after == before and max(after) >= criteria.TNT_INJURY
        else:
            assert "chronic kidney disease" not in twin.record
            assert max(before) < criteria.TNT_INJURY <= max(after) < 0.045
            assert case.record.replace(f"{max(before):.3f}", f"{max(after):.3f}") == twin.record
    assert kinds == set(TWINS)


def test_validation_and_test_cases_get_no_twin_and_unknown_kinds_fail():
    cases = generate_cohort(80, "en", seed=3, difficulty=1.0, n_external=10, twins=["tnt_near"])
    assert all(c.split == "train" for c in cases if c.meta.get("twin_of"))
    with pytest.raises(ValueError, match="fever.*no counterfactual twin.*tnt_renal"):
        generate_cohort(10, "en", seed=3, twins=["fever"])


def test_calibration_holds_out_cases_never_twins_and_drops_their_twins():
    train = [c for c in generate_cohort(120, "en", 31, 0.8, record_length="notes", twins=TWINS) if c.split == "train"]
    last = [c for c in train if not c.meta.get("twin_of")][-30:]
    n = next(i for i in range(1, 31) if any(t.meta.get("twin_of") == last[-i].case_id for t in train))
    fit, held = records.calibration_split(train, n)
    assert len(held) == n and not any(c.meta.get("twin_of") for c in held)
    assert held == last[-n:]
    out = {c.case_id for c in held}
    assert not any(c.case_id in out or c.meta.get("twin_of") in out for c in fit)
    assert len(fit) + len(held) + sum(c.meta.get("twin_of") in out for c in train) == len(train)


def test_twins_are_one_key_away_and_off_in_every_profile():
    cpu = ROOT / "params" / "smollm2-135m.yaml"
    assert load_params(cpu)["twins"] == [] and load_params(ROOT / "params" / "qwen3-8b.yaml")["twins"] == []
    assert load_params(cpu, twins=["tnt_renal", "tnt_near"])["twins"] == ["tnt_renal", "tnt_near"]
    with pytest.raises(ValueError, match="twins.*list of synthetic trap kinds"):
        load_params(cpu, twins="tnt_renal")


def test_the_cohort_tables_leave_twins_out_and_count_them():
    from pericomp_lib.cohort import build

    plain = generate_cohort(80, "en", seed=33, difficulty=0.8, record_length="notes")
    cases = generate_cohort(80, "en", seed=33, difficulty=0.8, record_length="notes", twins=TWINS)
    assert build.label_frequencies(cases).equals(build.label_frequencies(plain))
    counts = build.split_counts(cases).set_index("split")
    assert counts.loc["train", "twins"] == len(cases) - len(plain) > 0 and counts.loc["validation", "twins"] == 0


@pytest.mark.parametrize("language", ["en", "zh"])
def test_beside_renal_twins_a_renal_trap_quotes_its_history_and_its_twin_the_troponin(language):
    from pericomp_lib.cohort.synthetic.phrases import HISTORY
    from pericomp_lib.prompting.gold_answers import targeted_target

    def answer(case):
        return json.loads(targeted_target(case, "myocardial_injury", language, "evidence_first", "trap"))

    cases = generate_cohort(120, language, seed=30, difficulty=0.8, record_length="notes", twins=TWINS)
    history = {HISTORY[h][language == "zh"] for h in ("ckd", "esrd")}
    renal = [c for c in cases if c.split == "train" and "tnt_renal" in c.meta["traps"]]
    assert renal and all(answer(c)["think"] in history and answer(c)["bool"] == "False" for c in renal)
    for _case, twin in _pairs(cases):
        if twin.meta["twin_trap"] == "tnt_renal":
            assert TNT.search(answer(twin)["think"]) and answer(twin)["bool"] == "True"
    near_only = generate_cohort(120, language, seed=30, difficulty=0.8, record_length="notes", twins=["tnt_near"])
    renal = [c for c in near_only if c.split == "train" and "tnt_renal" in c.meta["traps"]]
    assert renal and all(TNT.search(answer(c)["think"]) for c in renal)  # without renal twins, as before
