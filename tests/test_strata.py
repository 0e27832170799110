"""How each answer is shown: evidence_kind and trap_for agree with the record, and the strata add up."""

from __future__ import annotations

import json

import pytest

from pericomp_lib.cohort.synthetic import generate_cohort
from pericomp_lib.cohort.synthetic.record_layout import RECORD
from pericomp_lib.cohort.synthetic.traps import MIMICS, NEGATION_MIMICS
from pericomp_lib.core import records, taxonomy
from pericomp_lib.evaluation import metrics, strata


@pytest.mark.parametrize("language,length", [("en", "notes"), ("zh", "notes"), ("en", "full")])
def test_evidence_kind_matches_the_record(language, length):
    cases = generate_cohort(120, language, seed=11, difficulty=0.8, record_length=length)
    kinds = [g.evidence_kind for c in cases for g in c.gold]
    assert set(kinds) == {"named", "criteria"}
    for c in cases:
        for g in c.gold:
            name = RECORD[language].diagnosis_name(g.complication)
            if g.evidence_kind == "named":
                assert name in c.record, (c.case_id, g.complication)
            else:  # only the criteria: the diagnosis is nowhere in the text
                assert name not in c.record, (c.case_id, g.complication)
    assert kinds.count("named") / len(kinds) <= 0.45  # difficulty 0.8 names ~36% of positives


def test_difficulty_moves_names_and_traps():
    easy = generate_cohort(150, "en", seed=12, difficulty=0.25, record_length="notes")
    hard = generate_cohort(150, "en", seed=12, difficulty=0.8, record_length="notes")

    def named(cases):
        kinds = [g.evidence_kind for c in cases for g in c.gold]
        return kinds.count("named") / len(kinds)

    assert named(easy) > 0.7 and named(hard) < 0.45
    assert sum(len(c.meta["traps"]) for c in hard) >= 2 * sum(len(c.meta["traps"]) for c in easy)


def test_trap_for_names_laid_traps_of_negative_labels():
    cases = generate_cohort(150, "en", seed=13, difficulty=1.0, record_length="notes")
    seen = 0
    for c in cases:
        for cid, traps in c.meta["trap_for"].items():
            assert set(traps) <= set(c.meta["traps"]), c.case_id
            for t in traps:
                assert cid in MIMICS[t] or (t == "negated" and cid in NEGATION_MIMICS.values())
            seen += 1
    assert seen > 100


def test_evidence_kind_round_trips_and_is_checked(tmp_path):
    case = generate_cohort(6, "en", seed=14, difficulty=0.8, record_length="notes")[0]
    obj = case.to_dict()
    assert records.case_from_dict(json.loads(json.dumps(obj))).gold == case.gold
    plain = records.case_from_dict({**obj, "gold": [{"complication": "pneumonia", "grade": "mild"}]})
    assert "evidence_kind" not in plain.to_dict()["gold"][0]  # other sources write no such key
    bad = dict(obj, gold=[{"complication": "pneumonia", "grade": "mild", "evidence_kind": "spotted"}])
    path = tmp_path / "cohort.jsonl"
    path.write_text(json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(records.CohortError, match=r"cohort.jsonl:1: .*evidence_kind.*named, criteria"):
        records.load_cohort(path)


SCOPE = ["paralytic_ileus", "infection_unknown_source", "organ_space_ssi", "myocardial_injury"]


def _noisy(cases, seed):
    """Predictions that hit and miss: gold labels kept or dropped, other scope labels added, random grades."""
    import random

    rng = random.Random(seed)
    lenient, strict = {}, {}
    for c in cases:
        said = {g.complication: g.grade for g in c.gold if g.complication in SCOPE and rng.random() < 0.7}
        said |= {cid: "mild" for cid in SCOPE if rng.random() < 0.15 and cid not in said}
        said = {cid: rng.choice([g, "moderate"]) for cid, g in said.items()}
        lenient[c.case_id] = sorted({taxonomy.zh_short(cid) for cid in said}) or [taxonomy.NONE_ZH]
        strict[c.case_id] = sorted(taxonomy.strict_label(cid, g) for cid, g in said.items()) or ["无术后并发症_Null"]
    return lenient, strict


def test_strata_add_up_to_the_overall_counts():
    cases = generate_cohort(90, "en", seed=15, difficulty=0.8, record_length="notes")
    lenient, strict = _noisy(cases, 1)
    p = strata.pairs(cases, lenient, strict, SCOPE)
    assert len(p) == len(cases) * len(SCOPE)
    gold_l, gold_s = records.gold_maps(cases)
    gold_l = records.restrict_labels(gold_l, SCOPE, False)
    pred_l = records.restrict_labels(lenient, SCOPE, False)
    # the no-complication label is scored by F1 but is no (case, complication) pair: count it apart
    counts = metrics.case_counts(gold_l, pred_l)
    none_tp = sum(taxonomy.NONE_ZH in gold_l[c] and taxonomy.NONE_ZH in pred_l[c] for c in gold_l)
    none_fp = sum(taxonomy.NONE_ZH not in gold_l[c] and taxonomy.NONE_ZH in pred_l[c] for c in gold_l)
    none_fn = sum(taxonomy.NONE_ZH in gold_l[c] and taxonomy.NONE_ZH not in pred_l[c] for c in gold_l)
    pos = p[p.stratum.isin(strata.POSITIVE)]
    neg = p[~p.stratum.isin(strata.POSITIVE)]
    assert int(pos.predicted.sum()) == counts.tp.sum() - none_tp
    assert int((~pos.predicted).sum()) == counts.fn.sum() - none_fn
    assert int(neg.predicted.sum()) == counts.fp.sum() - none_fp
    t = strata.table({"x": p}, n_boot=200)
    by = t.set_index("stratum")
    assert by.loc["named", "n"] + by.loc["criteria", "n"] == len(pos)
    assert by.loc["trap", "n"] + by.loc["clean", "n"] == len(neg)
    assert by.loc["trap", "n"] > 0 and by.loc["criteria", "n"] > 0
    assert by.loc["named", "k"] + by.loc["criteria", "k"] == int(pos.predicted.sum())
    # grade accuracy: true positives whose strict label carries the gold grade
    gold_s = records.restrict_labels(gold_s, SCOPE, True)
    strict_tp = sum(len((set(gold_s[c]) & set(strict[c])) - {"无术后并发症_Null"}) for c in gold_s)
    assert by.loc["true positives", "k"] == strict_tp
    assert by.loc["true positives", "n"] == int(pos.predicted.sum())
    for r in t.itertuples():
        assert r.ci_low <= r.rate <= r.ci_high


def test_strata_of_a_cohort_without_the_fields():
    cases = generate_cohort(20, "en", seed=16, difficulty=0.8, record_length="notes")
    for c in cases:
        c.meta = {}
        for g in c.gold:
            g.evidence_kind = None
    lenient, strict = _noisy(cases, 2)
    t = strata.table({"x": strata.pairs(cases, lenient, strict, SCOPE)}, n_boot=100)
    assert set(t.stratum) <= {"unknown", "clean", "true positives"}
    keys = strata.summary_keys(t)
    assert "recall_unknown_x" in keys and "recall_named_x" not in keys


def test_evidence_first_answers_quote_the_record():
    from pericomp_lib.inference.constrained import targeted_schema
    from pericomp_lib.prompting.gold_answers import EVIDENCE_CHARS, targeted_target

    cases = generate_cohort(60, "en", seed=17, difficulty=0.8, record_length="notes")
    kinds = set()
    for c in cases:
        gold = {g.complication for g in c.gold}
        for cid in SCOPE:
            answer = json.loads(targeted_target(c, cid, "en", "evidence_first"))
            assert list(answer) == ["think", "bool", "grading"]
            assert answer["bool"] == ("True" if cid in gold else "False")
            if answer["think"] == "none":
                assert cid not in gold and not c.meta["trap_evidence"].get(cid)
                kinds.add("none")
                continue
            assert answer["think"] in c.record and len(answer["think"]) <= EVIDENCE_CHARS
            kinds.add("positive" if cid in gold else "trap")
    assert kinds == {"none", "positive", "trap"}
    assert list(targeted_schema("en", "evidence_first", 64)["properties"]) == ["think", "bool", "grading"]
