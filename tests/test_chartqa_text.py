"""Chart Q&A text side: the patient context, the topics, the instruction pairs (hand-written subjects)."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from chartqa_subjects import (
    admission,
    anticoagulated,
    cohort,
    diabetes_code_only,
    on_insulin,
    ph,
    quiet,
    rx,
    subject,
    tables_missing,
)
from pericomp_lib.chartqa import answers, context, pairs, scoring, topics
from pericomp_lib.cohort.mimic.cases import subject_split

# ------------------------------------------------------------------------------------------- context


def test_context_reads_age_sex_stays_and_medication_classes():
    ctx = context.patient_context(anticoagulated())
    lines = ctx.text.splitlines()
    assert lines[0] == "Patient context:"
    assert "- Age: 71" in lines and "- Sex: female" in lines and "Unknown" not in ctx.text
    assert "- Prior admissions: 2" in lines and "- ICU stays: 1 (2.5 days in all)" in lines
    assert ctx.facts["med_classes"] == ["anticoagulant", "antiplatelet", "beta_blocker"]
    assert ctx.facts["med_drugs"]["anticoagulant"] == ["warfarin"]  # the heparin flush is a line flush, not a class
    assert "anticoagulant (warfarin)" in ctx.text and "antiplatelet medicine (aspirin)" in ctx.text
    assert ctx.facts["procedure_themes"] == ["surgery"]
    assert "10:I4891" in ctx.facts["diagnosis_codes"] and "Unspecified atrial fibrillation" in ctx.text
    assert ctx.missing == ()
    keys = [ln.split(":")[0] for ln in lines[1:]]
    assert keys == ["- Age", "- Sex", "- Prior admissions", "- ICU stays", "- Key medication classes"] + [
        "- Past procedures",
        "- Diagnoses on record",
    ]


def test_sex_comes_from_gender_and_an_unreadable_one_is_said():
    assert "- Sex: male" in context.patient_context(on_insulin()).text
    odd = {**on_insulin(), "gender": None}
    ctx = context.patient_context(odd)
    assert "- Sex: not recorded (patients.gender missing)" in ctx.text and "sex" not in ctx.facts
    assert ctx.missing == ("Sex: not recorded (patients.gender missing)",)


def test_a_missing_table_degrades_the_context_and_says_so():
    ctx = context.patient_context(tables_missing())
    assert "- ICU stays: not recorded (icu/icustays missing)" in ctx.text
    assert "ICU stays: not recorded (icu/icustays missing)" in ctx.missing
    assert "icu_stays" not in ctx.facts
    assert ctx.facts["med_classes"] == ["diuretic", "opioid"]  # prescriptions still read
    assert any("hosp/pharmacy missing" in m for m in ctx.missing)
    assert "[from prescriptions only (hosp/pharmacy missing)]" in ctx.text


def test_no_medicine_table_at_all_and_read_but_empty_tables_differ():
    none = subject(9, "M", 50, [admission(91, tables=())])
    ctx = context.patient_context(none)
    assert "- Key medication classes: not recorded (hosp/prescriptions and hosp/pharmacy missing)" in ctx.text
    assert ctx.facts["med_classes"] == []
    empty = context.patient_context(subject(9, "M", 50, [admission(91)]))  # tables read, no rows: null
    assert "- Key medication classes: none found" in empty.text and "- ICU stays: 0" in empty.text
    assert "- Past procedures: none recorded" in empty.text and empty.missing == ()


def test_drop_leaves_the_selected_columns_out():
    drop = frozenset({"patients.anchor_age", "icustays.stay_id", "prescriptions.drug", "pharmacy.medication"})
    ctx = context.patient_context(anticoagulated(), drop=drop)
    assert "- Age: not used (patients.anchor_age left out by the column selection)" in ctx.text
    assert "warfarin" not in ctx.text and ctx.facts["med_classes"] == []
    assert "- Sex: female" in ctx.text  # not dropped
    assert len(ctx.missing) == 3 and all("left out by the column selection" in m for m in ctx.missing)
    # one medicine source dropped: the other still counts
    only_rx = context.patient_context(anticoagulated(), drop=frozenset({"pharmacy.medication"}))
    assert only_rx.facts["med_classes"] == ["anticoagulant", "beta_blocker"]


def test_drug_patterns_start_a_word_of_the_name():
    got = context.medication_classes(["Oxycodone-Acetaminophen", "Insulin Glargine", "Heparin Flush", "Aspirin EC"])
    assert got == {"antiplatelet": ["aspirin"], "insulin": ["insulin"], "opioid": ["oxycodone"]}
    assert context.medication_classes(["Acetaminophen", "Docusate Sodium", ""]) == {}
    assert "metformin" in context.medication_classes(["metFORMIN (Glucophage)"])["oral_antidiabetic"]


# -------------------------------------------------------------------------------------------- topics


def test_topics_file_is_consistent_with_its_own_match_rule():
    ts = topics.load_topics()
    assert len(ts.topics) >= 8
    known_classes = set(context.drug_class_labels())
    for t in ts.topics.values():
        assert set(t.med_classes) <= known_classes, t.id
        assert len(t.questions) >= 3
        for c in t.chart_facts:
            if c.when[0] == "med_classes":
                assert set(c.when[1]) <= known_classes, (t.id, c.fact)
        said_for = {(c.when[0], v) for c in t.chart_facts for v in (c.when[1] if c.when[0] != "diagnoses" else [1])}
        needed = {("med_classes", m) for m in t.med_classes} | {("procedure_themes", p) for p in t.procedure_themes}
        needed |= {("diagnoses", 1)} if t.icd_prefixes else set()
        assert needed <= said_for, (t.id, needed - said_for)  # every trigger has a chart fact to say
        facts = [*t.urgent, *t.chart_facts]
        for f in facts:  # every phrasing states its own fact and no other fact of the topic
            for say in f.say:
                for other in facts:
                    hit = scoring.stated(say, {"fact": other.fact, "match": list(other.match)})
                    assert hit == (other is f), (t.id, say, other.fact)
        for line in itertools.chain(*t.try_now, *t.track):  # generic lines state no must-have fact
            assert not any(scoring.stated(line, {"fact": f.fact, "match": list(f.match)}) for f in facts), line
            assert not scoring.names_disease(line), line


def test_topics_fire_only_on_their_chart_triggers():
    def fired(subj):
        return {t.id for t in topics.matching_topics(context.patient_context(subj).facts)}

    assert {"bleeding", "falls_dizziness", "wound"} <= fired(anticoagulated())
    assert "glycaemia" not in fired(anticoagulated())
    assert "glycaemia" in fired(on_insulin()) and "bleeding" not in fired(on_insulin())
    assert fired(diabetes_code_only()) == {"glycaemia"}  # ICD-9 250.00 alone
    assert fired(quiet()) == set()
    assert fired(tables_missing()) == {"pain_opioid", "falls_dizziness", "kidney_fluids", "wound"}


def test_choose_topics_is_seeded_and_bounded():
    facts = context.patient_context(tables_missing()).facts
    a = [t.id for t in topics.choose_topics(facts, random.Random("1:404"), k=2)]
    b = [t.id for t in topics.choose_topics(facts, random.Random("1:404"), k=2)]
    assert a == b and len(a) == 2 and len(set(a)) == 2
    draws = {tuple(t.id for t in topics.choose_topics(facts, random.Random(s), k=2)) for s in range(30)}
    assert len(draws) > 1


def test_a_broken_topics_file_names_file_topic_and_key(tmp_path):
    raw = json.loads(topics.TOPICS_PATH.read_text(encoding="utf-8"))
    del raw["topics"][1]["urgent"]
    path = tmp_path / "topics.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(topics.TopicsError) as e:
        topics.load_topics(path)
    msg = str(e.value)
    assert str(path) in msg and "topics[1]" in msg and "'urgent'" in msg and "\n" not in msg


# --------------------------------------------------------------------------------------------- pairs


def test_pairs_are_deterministic_for_a_seed_and_differ_for_another():
    subjects = cohort(40)
    a, b = pairs.build_pairs(subjects, seed=1), pairs.build_pairs(subjects, seed=1)
    assert a == b and len(a) > 40
    c = pairs.build_pairs(subjects, seed=2)
    assert [p["messages"] for p in a] != [p["messages"] for p in c]


def test_pairs_split_by_subject_at_most_three_distinct_topics_each():
    subjects = cohort(60)
    made = pairs.build_pairs(subjects, seed=7)
    by_subject: dict[int, list[dict]] = {}
    for p in made:
        by_subject.setdefault(p["subject_id"], []).append(p)
    for sid, rows in by_subject.items():
        assert {p["split"] for p in rows} == {subject_split(sid, 7)}
        assert 1 <= len(rows) <= 3 and len({p["topic"] for p in rows}) == len(rows)
    assert {p["split"] for p in made} == {"train", "validation", "test"}
    quiet_ids = {s["subject_id"] for s in subjects if s["admissions"][0]["diagnoses"][0]["icd_code"] == "J069"}
    assert quiet_ids and not quiet_ids & set(by_subject)  # no topic fired, no pair
    assert all(len(v) == 1 for v in _group(pairs.build_pairs(subjects, seed=7, per_subject=1)).values())


def _group(made):
    out: dict[int, list[dict]] = {}
    for p in made:
        out.setdefault(p["subject_id"], []).append(p)
    return out


def test_pair_answers_keep_the_structure_state_their_facts_and_name_no_disease():
    subjects = {s["subject_id"]: s for s in cohort(40)}
    made = pairs.build_pairs(subjects.values(), seed=3)
    words = []
    for p in made:
        system, user, assistant = p["messages"]
        assert system == {"role": "system", "content": answers.SYSTEM_PROMPT}
        assert user["content"].startswith("Patient context:\n- Age:") and "\n\nQuestion: " in user["content"]
        text = assistant["content"]
        assert scoring.section_adherence(text) == 1.0, scoring.section_problems(text)
        assert scoring.must_have_recall(text, p["must_have"]) == 1.0
        assert not scoring.names_disease(text, subjects[p["subject_id"]]), scoring.disease_mentions(text)
        assert [f["kind"] for f in p["must_have"]][:4] == ["section"] * 4
        words.append(len(text.split()))
    assert min(words) >= 80 and max(words) <= 150


def test_the_chart_fact_matches_the_subject():
    subjects = {s["subject_id"]: s for s in cohort(60)}
    made = pairs.build_pairs(subjects.values(), seed=5)
    seen_topics = set()
    for p in made:
        facts = context.patient_context(subjects[p["subject_id"]]).facts
        classes = set(facts["med_classes"])
        chart = {f["fact"] for f in p["must_have"] if f["kind"] == "chart"}
        seen_topics.add(p["topic"])
        if p["topic"] == "bleeding":
            assert classes & {"anticoagulant", "antiplatelet"}
            expected = {"takes an anticoagulant"} if "anticoagulant" in classes else set()
            expected |= {"takes an antiplatelet medicine"} if "antiplatelet" in classes else set()
            assert chart == expected
        if p["topic"] == "glycaemia":
            diabetes = any(c.split(":")[1].startswith(("E11", "250")) for c in facts["diagnosis_codes"])
            assert classes & {"insulin", "oral_antidiabetic"} or diabetes
            assert ("uses insulin" in chart) == ("insulin" in classes)
        if p["topic"] == "wound":
            assert "had an operation" in chart
        assert chart, p["topic"]  # every training answer says at least one chart fact
    assert {"bleeding", "glycaemia", "wound", "pain_opioid"} <= seen_topics


def test_drop_reaches_the_pairs_context():
    drop = frozenset({"patients.anchor_age"})
    made = pairs.build_pairs([anticoagulated()], seed=1, drop=drop)
    assert made and all("- Age: not used" in p["messages"][1]["content"] for p in made)


def test_prompt_messages_are_the_pairs_prompt():
    p = pairs.build_pairs([on_insulin()], seed=1)[0]
    ctx, question = p["messages"][1]["content"].split("\n\nQuestion: ")
    assert pairs.prompt_messages(ctx, question) == p["messages"][:2]


def test_write_read_pairs_round_trip_and_a_bad_line_names_file_and_line(tmp_path):
    made = pairs.build_pairs(cohort(10), seed=1)
    path = pairs.write_pairs(tmp_path / "qa_pairs.jsonl", made)
    assert pairs.read_pairs(path) == made
    broken = dict(made[1], messages=made[1]["messages"][:2])
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = json.dumps(broken)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path}:2: messages must be three turns"):
        pairs.read_pairs(path)
    lines[1] = json.dumps({k: v for k, v in made[1].items() if k != "must_have"})
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path}:2: missing key 'must_have'"):
        pairs.read_pairs(path)


def test_a_pharmacy_only_chart_still_gets_its_classes():
    s = subject(12, "F", 30, [admission(121, pharmacy=[ph("Enoxaparin Sodium")], prescriptions=[rx("Senna")])])
    assert context.patient_context(s).facts["med_classes"] == ["anticoagulant"]
