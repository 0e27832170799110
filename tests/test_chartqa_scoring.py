"""Chart Q&A scoring and the guidance set: hand-written answers scored by the documented lexical rule."""

from __future__ import annotations

import json
import math

import pytest

from chartqa_subjects import anticoagulated, dx, quiet, subject
from pericomp_lib.chartqa import answers, context, questions, scoring, topics

PERFECT = """What you can try now:
- You take an anticoagulant, so press on a small cut for 10 minutes.
- Use a soft toothbrush.
When to seek urgent care:
- Bleeding that doesn't stop after 10 minutes of pressure.
- Black stools, or blood in your stools.
- Vomiting blood.
- A bang on the head.
What to track or share:
- Note new bruises.
This is general guidance, not a diagnosis; contact your care team about your own situation."""

MUST = answers.section_must_have() + [
    {"kind": "warning", "fact": "bleeding that does not stop", "match": ["bleeding not stop"]},
    {"kind": "warning", "fact": "black or bloody stools", "match": ["black stool", "blood in stool"]},
    {"kind": "warning", "fact": "vomiting blood", "match": ["vomit blood"]},
    {"kind": "warning", "fact": "a knock to the head", "match": ["bang head", "knock head"]},
    {"kind": "chart", "fact": "takes an anticoagulant", "match": ["anticoagulant", "blood thinner"]},
]


def test_a_perfect_answer_scores_one():
    assert scoring.must_have_recall(PERFECT, MUST) == 1.0
    assert scoring.chart_fact_recall(PERFECT, MUST) == 1.0 and scoring.warning_recall(PERFECT, MUST) == 1.0
    assert scoring.section_adherence(PERFECT) == 1.0 and scoring.section_problems(PERFECT) == []
    assert scoring.missing_facts(PERFECT, MUST) == []


def test_an_answer_missing_one_warning_loses_exactly_its_share():
    answer = PERFECT.replace("- Vomiting blood.\n", "")
    assert scoring.must_have_recall(answer, MUST) == pytest.approx(8 / 9)
    assert scoring.warning_recall(answer, MUST) == pytest.approx(3 / 4)
    assert scoring.missing_facts(answer, MUST) == ["vomiting blood"]
    assert scoring.chart_fact_recall(answer, MUST) == 1.0 and scoring.section_adherence(answer) == 1.0


def test_chart_fact_recall_is_separate_and_nan_without_chart_facts():
    answer = PERFECT.replace("You take an anticoagulant, so press", "Press")
    assert scoring.chart_fact_recall(answer, MUST) == 0.0
    assert scoring.must_have_recall(answer, MUST) == pytest.approx(8 / 9)
    assert math.isnan(scoring.chart_fact_recall(PERFECT, answers.section_must_have()))
    with pytest.raises(ValueError, match="must_have is empty"):
        scoring.must_have_recall(PERFECT, [])


def test_the_lexical_rule_folds_plurals_and_contractions_and_needs_one_sentence():
    fact = {"kind": "warning", "fact": "black stools", "match": ["black stool"]}
    assert scoring.stated("Your STOOLS look black!", fact)  # plural, case, order, punctuation
    assert not scoring.stated("Your stools may change. Black is a colour.", fact)  # two sentences
    assert not scoring.stated("- Stools\n- black", fact)  # two lines
    stop = {"kind": "warning", "fact": "x", "match": ["bleeding will not stop"]}
    assert scoring.stated("If the bleeding won't stop, call.", stop)
    assert scoring.stated("Call if a cut keeps bleeding and does not stop", stop)  # 'will' is a stopword
    assert not scoring.stated("The bleeding stopped.", stop)  # 'not' is a content word: negation counts
    assert scoring.content_words("bleeding will not stop") == {"bleed", "not", "stop"}
    assert (
        scoring.fold("hitting") == "hit" and scoring.fold("swelling") == "swell" and scoring.fold("stools") == "stool"
    )
    assert scoring.normalize("Doesn’t stop at 38.5°C") == "does not stop at 38 5 c"


def test_naming_a_disease_is_flagged_and_symptoms_are_not():
    assert scoring.names_disease(PERFECT.replace("Note new bruises.", "Your atrial fibrillation needs checks."))
    assert scoring.disease_mentions("Tumours can bleed.") == ["tumour"]
    assert not scoring.names_disease(PERFECT)
    # the chart's own titles: a chart-only term is caught, a symptom title (R-code) is not a disease
    subj = subject(1, "F", 60, [{"hadm_id": 1, "diagnoses": [dx("K219", "Esophageal reflux, without esophagitis")]}])
    assert scoring.names_disease("Your esophageal reflux may flare.", subj)
    assert not scoring.names_disease("Your esophageal reflux may flare.")  # not in the packaged list
    assert "atrial fibrillation" in scoring.diagnosis_terms(anticoagulated())
    assert not scoring.names_disease("Chest pain needs urgent care.", anticoagulated())  # R07.9 is a symptom
    assert scoring.names_disease("It is an upper respiratory infection.", quiet())  # J06.9 head phrase
    assert scoring.names_disease("watch for flare-ups", ["flare ups"])  # given terms


def test_title_terms_keep_the_disease_and_drop_qualifiers_and_symptom_words():
    assert scoring.title_terms("Unspecified essential hypertension") == ["hypertension"]
    assert scoring.title_terms("Acute on chronic diastolic (congestive) heart failure") == ["diastolic heart failure"]
    assert scoring.title_terms("Chronic pain, not elsewhere classified") == []
    assert scoring.title_terms("Acute posthemorrhagic anemia") == ["posthemorrhagic anemia", "anemia"]


@pytest.mark.parametrize(
    "broken, problem",
    [
        (PERFECT.replace("When to seek urgent care:\n", ""), "heading 'When to seek urgent care:' missing"),
        (
            PERFECT.replace("What you can try now:", "@@")
            .replace("What to track or share:", "What you can try now:")
            .replace("@@", "What to track or share:"),
            "headings out of order",
        ),
        (PERFECT.replace("- Note new bruises.\n", ""), "no bullet under 'What to track or share:'"),
        (PERFECT.replace(answers.DISCLAIMER, "Take care."), "closing disclaimer missing"),
        (PERFECT + "\nWhat you can try now:\n- again", "appears 2 times"),
    ],
)
def test_a_broken_structure_fails_adherence(broken, problem):
    assert scoring.section_adherence(broken) == 0.0
    assert any(problem in p for p in scoring.section_problems(broken)), scoring.section_problems(broken)


def test_rouge_l_against_the_ideal():
    assert scoring.rouge_l(PERFECT, PERFECT) == pytest.approx(1.0)
    assert scoring.rouge_l("completely unrelated words about the weather", PERFECT) < 0.1
    partial = scoring.rouge_l(PERFECT.replace("- Vomiting blood.\n", ""), PERFECT)
    assert 0.8 < partial < 1.0
    assert scoring.rouge_l("", PERFECT) == 0.0


# ------------------------------------------------------------------------------------------ guidance


def test_the_guidance_set_is_in_the_training_structure_and_checkable():
    qs = questions.load_questions()
    ts = topics.load_topics()
    assert len(qs) >= 12 and len({q["topic"] for q in qs}) >= 6
    training_questions = {x for t in ts.topics.values() for x in t.questions}
    for q in qs:
        ideal, must = q["ideal"], q["must_have"]
        assert q["question"] not in training_questions
        assert scoring.section_adherence(ideal) == 1.0, (q["id"], scoring.section_problems(ideal))
        assert scoring.must_have_recall(ideal, must) == 1.0, (q["id"], scoring.missing_facts(ideal, must))
        assert not scoring.names_disease(ideal), (q["id"], scoring.disease_mentions(ideal))
        assert 80 <= len(ideal.split()) <= 140
        warnings = [f for f in must if f["kind"] == "warning"]
        assert warnings == answers.warning_must_have(ts.topics[q["topic"]])  # what training taught
        for w in warnings:  # each warning line carries its own fact: dropping it loses exactly its share
            kept = "\n".join(ln for ln in ideal.splitlines() if not scoring.stated(ln, w))
            assert scoring.must_have_recall(kept, must) == pytest.approx((len(must) - 1) / len(must)), (q["id"], w)


def test_must_have_for_adds_the_subjects_chart_facts():
    q = next(q for q in questions.load_questions() if q["topic"] == "bleeding")
    facts = context.patient_context(anticoagulated()).facts
    must = questions.must_have_for(q, facts)
    assert [f["fact"] for f in must if f["kind"] == "chart"] == [
        "takes an anticoagulant",
        "takes an antiplatelet medicine",
    ]
    assert must[: len(q["must_have"])] == q["must_have"]
    assert questions.must_have_for(q, context.patient_context(quiet()).facts) == q["must_have"]


def _write(tmp_path, entries):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_a_questions_file_missing_a_key_names_file_entry_and_key(tmp_path):
    entries = json.loads(questions.QUESTIONS_PATH.read_text(encoding="utf-8"))[:3]
    del entries[2]["ideal"]
    path = _write(tmp_path, entries)
    with pytest.raises(questions.QuestionsError) as e:
        questions.load_questions(path)
    msg = str(e.value)
    assert msg == f"{path}: entry 2 (id {entries[2]['id']!r}): missing key 'ideal'"


def test_an_empty_question_or_unknown_topic_names_file_entry_and_key(tmp_path):
    entries = json.loads(questions.QUESTIONS_PATH.read_text(encoding="utf-8"))[:2]
    entries[1]["question"] = "  "
    with pytest.raises(questions.QuestionsError, match=r"mine\.json: entry 1 \(id '.+'\): key 'question' is empty"):
        questions.load_questions(_write(tmp_path, entries))
    entries[1]["question"], entries[1]["topic"] = "Fine?", "astrology"
    with pytest.raises(questions.QuestionsError, match=r"entry 1 .*key 'topic': 'astrology' is not a topic"):
        questions.load_questions(_write(tmp_path, entries))
    entries[1]["topic"], entries[1]["must_have"] = "bleeding", [{"kind": "warning", "fact": "x", "match": ["the"]}]
    with pytest.raises(questions.QuestionsError, match=r"entry 1 .*match 'the' has no content word"):
        questions.load_questions(_write(tmp_path, entries))


def test_a_users_questions_file_replaces_the_packaged_one(tmp_path):
    entry = json.loads(questions.QUESTIONS_PATH.read_text(encoding="utf-8"))[0]
    mine = questions.load_questions(_write(tmp_path, [dict(entry, id="mine-1", question="My own question?")]))
    assert [q["id"] for q in mine] == ["mine-1"] and mine[0]["question"] == "My own question?"
