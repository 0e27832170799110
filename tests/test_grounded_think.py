"""grounded_think: an evidence_first answer's think is "none" or the start of a phrase of its own record."""

from __future__ import annotations

import json
import re

import pytest

from conftest import constrained_params, lively_llama
from pericomp_lib.cohort.synthetic import generate_cohort
from pericomp_lib.inference import constrained, parsing, quotes, runstore
from pericomp_lib.inference import runner as inf
from pericomp_lib.inference.jobs import build_jobs, grammar_for, settings_key
from pericomp_lib.llm import models
from pericomp_lib.prompting import definitions
from pericomp_lib.prompting.gold_answers import EVIDENCE_CHARS, NO_EVIDENCE, targeted_target

COMPS = ["paralytic_ileus", "infection_unknown_source", "organ_space_ssi", "myocardial_injury"]


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer("tiny-random")


@pytest.fixture(scope="module")
def defs():
    return definitions.load_definitions(None, "en")


def _params(**kw):
    base = dict(answer_layout="evidence_first", grounded_think=True, think_max_chars=64, max_new_tokens=60)
    return constrained_params(**{**base, "complications": COMPS, **kw})


@pytest.mark.parametrize(
    ("language", "length", "negative_quote"),
    [
        ("en", "notes", "trap"),
        ("zh", "compact", "trap"),
        ("en", "full", "trap"),
        ("en", "notes", "decisive"),
        ("zh", "notes", "decisive"),
        ("en", "notes", "trap_decisive"),
        ("zh", "notes", "trap_neighbour"),
    ],
)
def test_every_training_quote_is_allowed_by_its_records_pattern(language, length, negative_quote):
    """The grammar must allow what training taught, or constrained decoding would fight the adapter."""
    cases = generate_cohort(60, language=language, seed=23, difficulty=0.8, record_length=length)
    n_quotes = 0
    for case in cases:
        pattern = re.compile(quotes.quote_pattern(case.record, 64, NO_EVIDENCE[language]))
        for cid in COMPS:
            think = json.loads(targeted_target(case, cid, language, "evidence_first", negative_quote))["think"]
            assert pattern.fullmatch(think), f"{case.case_id}/{cid}: training quote {think!r} not allowed"
            n_quotes += think != NO_EVIDENCE[language]
    assert n_quotes > 30  # the check covered real quotes, not only "none"


def test_a_quote_the_record_does_not_hold_is_refused():
    record = "POD 1. Today: passing flatus; T 38.1 °C\n# Imaging\nCT\tImpression: (collection) [3 cm] ↑"
    pattern = re.compile(quotes.quote_pattern(record, EVIDENCE_CHARS, "none"))
    for ok in ("none", "POD 1", "Today: passing flatus", "passing flat", "T 38.1 °C", "# Imaging", "Impression: (col"):
        assert pattern.fullmatch(ok), ok
    for bad in ("tropic", "troponin", "assing flatus", "", "none of it", "flatus; T 38.1 °C\n# Imaging"):
        assert not pattern.fullmatch(bad), bad
    assert quotes.phrases("ab, cd", 3) == ["ab,", "cd"]  # cut at max_chars


def test_the_grammar_accepts_the_training_target_and_refuses_a_made_up_quote(tok):
    case = generate_cohort(12, seed=5, difficulty=0.8, record_length="notes")[3]
    grammars = constrained.GroundedGrammars(tok, _params(), "en", {case.case_id: case.record})
    grammar = grammars.for_case(case.case_id)
    assert grammars.for_case(case.case_id) is grammar  # compiled once per case
    for cid in COMPS:
        target = targeted_target(case, cid, "en", "evidence_first")
        m = grammar.rows(1).matchers[0]
        assert m.consume_tokens(tok(target, add_special_tokens=False).input_ids) and m.is_accepting(), target
    made_up = '{"think": "zzq' + "x" * 5
    m = grammar.rows(1).matchers[0]
    assert not m.consume_tokens(tok(made_up, add_special_tokens=False).input_ids)
    with pytest.raises(constrained.ConstraintError, match="no record for case 'nope'"):
        grammars.for_case("nope")


@pytest.mark.parametrize("layout", ["shared_prefix", "paper"])
def test_a_grounded_run_quotes_only_its_record(tok, defs, tmp_path, layout):
    """End to end through the runner (both prompt layouts); without the grammar the same model's thinks are
    mostly not in the record, so the check can fail."""
    model = lively_llama(tok, seed=5, max_position_embeddings=8192)
    cases = generate_cohort(3, seed=11, difficulty=0.8, record_length="notes")
    records = {c.case_id: c.record for c in cases}
    thinks = {}
    for grounded in (True, False):
        p = _params(grounded_think=grounded, prompt_layout=layout)
        jobs = build_jobs(cases, tok, defs, p)
        store = runstore.RunStore(tmp_path / f"raw-{grounded}.jsonl")
        summary = inf.run(model, tok, jobs, p, store, progress=False, grammar=grammar_for(tok, p, defs, cases))
        assert summary.failed == 0 and summary.generated == len(jobs) == 12, summary
        rows = [json.loads(line) for line in (tmp_path / f"raw-{grounded}.jsonl").read_text().splitlines()]
        for r in rows:
            assert parsing.parse_targeted(r["text"]).error is None, r["text"]
        thinks[grounded] = [(r["case_id"], json.loads(r["text"])["think"]) for r in rows]
    assert all(t == "none" or t in records[c] for c, t in thinks[True]), thinks[True]
    assert sum(t != "none" and t not in records[c] for c, t in thinks[False]) >= 3, thinks[False]


def test_grounded_think_needs_quotes_and_changes_the_answer_hash(tok, defs):
    with pytest.raises(constrained.ConstraintError, match="grounded_think: true needs answer_layout: evidence_first"):
        grammar_for(tok, _params(answer_layout="decision_first"), defs, [])
    on, off = _params(), _params(grounded_think=False)
    assert settings_key(on, "base", None) != settings_key(off, "base", None)
    assert "grounded_think" not in settings_key(off, "base", None)  # answers of earlier runs keep their hash
    comp = grammar_for(tok, {**on, "strategy": "comprehensive"}, defs, [])
    assert isinstance(comp, constrained.Grammar)  # the comprehensive list has no quote to ground


def _answers(model, tok, defs, cases, p, path, records=None):
    jobs = build_jobs(cases, tok, defs, p)
    grammar = grammar_for(tok, p, defs, cases)
    if records is not None:  # the same grammar on other records (here: none, so every quote is "none")
        grammar = constrained.GroundedGrammars(tok, p, "en", records)
    summary = inf.run(model, tok, jobs, p, runstore.RunStore(path), progress=False, grammar=grammar)
    assert summary.failed == 0 and summary.generated == len(jobs), summary
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return summary, {(r["case_id"], r["item"]): r for r in rows}


@pytest.mark.parametrize("layout", ["shared_prefix", "paper"])
def test_quote_backoff_answers_a_quote_that_left_the_record_with_none(tok, defs, tmp_path, layout):
    """A random model nudged towards "none" and "#" (a logit bias) quotes "none", or begins a quote the record
    holds ("# General information") and leaves it midway, or one it does not hold. With quote_backoff the answers
    that left are the very answers the model gives with the quote "none" forced, the others are untouched, and
    raw.jsonl says which quote was refused. (P(True) to 1e-4: rows leaving a batch change its float sums.)"""
    import torch

    model = lively_llama(tok, seed=5, max_position_embeddings=8192)
    nudged = torch.tensor([tok(t, add_special_tokens=False).input_ids[0] for t in ("none", "#")])
    model.lm_head.register_forward_hook(lambda m, i, o: o.index_add(-1, nudged, o.new_full((*o.shape[:-1], 2), 12.0)))
    cases = generate_cohort(3, seed=11, difficulty=0.8, record_length="notes")
    p_on, p_off = _params(prompt_layout=layout, quote_backoff=True), _params(prompt_layout=layout)
    summary, on = _answers(model, tok, defs, cases, p_on, tmp_path / "on.jsonl")
    _, off = _answers(model, tok, defs, cases, p_off, tmp_path / "off.jsonl")
    _, none = _answers(model, tok, defs, cases, p_off, tmp_path / "none.jsonl", {c.case_id: "" for c in cases})
    backed = {k: r["backoff"] for k, r in on.items() if r["backoff"] is not None}
    assert 0 < len(backed) < len(on) and summary.backoffs == len(backed), backed
    assert any(b.split("|")[0] for b in backed.values()), backed  # a quote left midway, not only at its start
    for key, row in on.items():
        if key not in backed:
            assert row["text"] == off[key]["text"] and row["p_true"] == pytest.approx(off[key]["p_true"], abs=1e-4), key
            continue
        assert json.loads(row["text"])["think"] == "none", row
        assert row["text"] == none[key]["text"] and row["p_true"] == pytest.approx(none[key]["p_true"], abs=1e-4), key
        began, wanted = backed[key].split("|", 1)
        bent = json.loads(off[key]["text"])["think"]  # without the switch the mask bends the quote instead
        assert bent.startswith(began) and not bent.startswith(began + wanted), (backed[key], bent)
    assert settings_key(p_on, "base", None) != settings_key(p_off, "base", None)
    assert "quote_backoff" not in settings_key(p_off, "base", None)  # answers of earlier runs keep their hash


@pytest.mark.parametrize("cascade", [False, True])
def test_a_backed_off_row_starts_again_inside_its_batch(tok, defs, cascade):
    """quote_backoff starts a row again inside its batch (its first answer's columns masked out, its positions
    reused), with or without cascade attention: each answer equals the one its prompt gets alone, under the case's
    grammar or, for the rows that backed off, with the quote "none" forced (P(True) to 1e-5: the first answer's
    columns left unmasked move it by ~5e-5 here)."""
    import torch

    from pericomp_lib.inference import decoding

    model = lively_llama(tok, seed=5, max_position_embeddings=8192)
    nudged = torch.tensor([tok(t, add_special_tokens=False).input_ids[0] for t in ("none", "#")])
    model.lm_head.register_forward_hook(lambda m, i, o: o.index_add(-1, nudged, o.new_full((*o.shape[:-1], 2), 12.0)))
    case = generate_cohort(3, seed=11, difficulty=0.8, record_length="notes")[2]
    p = _params(prompt_layout="shared_prefix", quote_backoff=True)
    js = build_jobs([case], tok, defs, p)
    head = tok(js[0].head, add_special_tokens=False).input_ids
    tails = [tok(j.tail, add_special_tokens=False).input_ids for j in js] * 2  # 8 rows: cascade's case
    grammar = grammar_for(tok, p, defs, [case]).for_case(case.case_id)
    got, backed = {}, {}
    decoding.generate_shared(
        model,
        tok,
        head,
        tails,
        60,
        on_done=lambda r, ids, s, pt: got.__setitem__(r, (ids, pt)),
        grammar=grammar,
        cascade_attention=cascade,
        on_backoff=backed.__setitem__,
    )
    assert sorted(got) == list(range(len(tails))) and 0 < len(backed) < len(tails), backed
    for r, tail in enumerate(tails):
        alone = {}
        decoding.generate_full(
            model,
            tok,
            [head + tail],
            60,
            on_done=lambda _, ids, s, pt, alone=alone: alone.update(ids=ids, p=pt),
            grammar=grammar.backoff if r in backed else grammar,
        )
        assert got[r][0] == alone["ids"] and got[r][1] == pytest.approx(alone["p"], abs=1e-5), (r, backed.get(r))
        assert (json.loads(tok.decode(got[r][0]))["think"] == "none") >= (r in backed)
