"""Prompt builders: exact reproduction of the published prompts, the shared-prefix identities, targets."""

import copy
import json
import re

import pytest

from pericomp_lib.core import records, taxonomy
from pericomp_lib.core.records import Case, GoldLabel
from pericomp_lib.llm import tokens
from pericomp_lib.prompting import chat, definitions, gold_answers, prompts, sft_data

RECORD = (
    "# General information\nSex: male\nAge: 70-75\n\n# Progress notes\n2024-03-02 Laparoscopic colectomy.\n"
    "2024-03-04 Creatinine 182 umol/L (baseline 84).\n2024-03-05 Troponin T 0.05 ng/mL.\n"
)


def _case(case_id="c1", gold=None, language="en", split="train", meta=None):
    gold = (
        gold
        if gold is not None
        else [
            GoldLabel("acute_kidney_injury", "moderate", ["Creatinine 182 umol/L (baseline 84)"]),
            GoldLabel("myocardial_injury", "none", ["Troponin T 0.05 ng/mL"]),
        ]
    )
    return Case(case_id, "test", split, language, RECORD, gold, None, meta or {})


@pytest.fixture(scope="module")
def en():
    return definitions.load_definitions(None)


@pytest.fixture(scope="session")
def tokenizer():
    """The SmolLM2 tokenizer and chat template (via the tiny-random built-in, cached after first use)."""
    from pericomp_lib.llm import models

    return models.load_tokenizer("tiny-random")


# ------------------------------------------------------------------------- published prompt files
@pytest.mark.parametrize(
    "published, definition, strategy, think",
    [
        ("targeted_prompts.json", "defination_modified.md", "targeted", True),
        ("comprehensive_prompts.json", "defination.md", "comprehensive", True),
        ("comprehensive_prompts_nothink.json", "defination.md", "comprehensive", False),
        ("comprehensive_prompts_modified.json", "defination_modified.md", "comprehensive", True),
    ],
)
def test_published_prompt_files_rebuilt_byte_for_byte(pericomp_dir, published, definition, strategy, think):
    defs = definitions.load_definitions(pericomp_dir / "prompt" / definition)
    assert defs.language == "zh"
    records_ = json.loads((pericomp_dir / "data_source" / "medical_record.json").read_text(encoding="utf-8"))
    if strategy == "targeted":
        built = {k: prompts.targeted_prompts(v, defs, layout="paper") for k, v in records_.items()}
    else:
        built = {k: prompts.comprehensive_prompt(v, defs, think=think) for k, v in records_.items()}
    text = (pericomp_dir / "prompt" / published).read_text(encoding="utf-8")
    assert json.loads(text) == built
    assert json.dumps(built, ensure_ascii=False, indent=4) == text  # the file itself, as the authors dumped it


def test_zh_definitions_parse_to_the_22_headings(pericomp_dir):
    defs = definitions.load_definitions(pericomp_dir / "prompt" / "defination_modified.md")
    assert list(defs.sections) == list(taxonomy.IDS)
    assert defs.headings == {c: taxonomy.zh_heading(c) for c in taxonomy.IDS}
    assert "84" in defs.sections["acute_kidney_injury"]  # the modified file's baseline-creatinine note


# ----------------------------------------------------------------------------- English definitions
def test_english_definitions_have_all_sections(en):
    assert en.language == "en"
    assert list(en.sections) == list(taxonomy.IDS)
    assert all(en.headings[c] == taxonomy.english(c) for c in taxonomy.IDS)
    assert all(en.sections[c].strip() for c in taxonomy.IDS)
    assert "Mild" in en.general_grading and "Severe" in en.general_grading
    # the criteria the paper relies on
    assert (
        "84 umol/L" in en.sections["acute_kidney_injury"] and "kidney transplant" in en.sections["acute_kidney_injury"]
    )
    assert "0.03 ng/mL" in en.sections["myocardial_injury"]
    assert "PaO2/FiO2" in en.sections["ards"]
    # the authors' splitter (number, dot, whitespace anywhere) would cut the file the same way
    body = en.categories
    assert len(re.split(r"\d+\.\s", body)) - 1 == 22


def test_criteria_spell_out_general_grading(en):
    crit = en.criteria("arrhythmia")
    assert "General grading" not in crit and "no treatment needed" in crit and "\t" in crit


def test_bad_definitions_name_the_problem(tmp_path):
    bad = tmp_path / "defs.md"
    bad.write_text(
        "## Postoperative complication categories\n1. Acute kidney injury\n- x\n2. Hiccups\n- y\n"
        "## General grading\n- Mild: none\n",
        encoding="utf-8",
    )
    with pytest.raises(definitions.DefinitionsError, match=r"defs.md:4: heading 'Hiccups'"):
        definitions.load_definitions(bad)
    bad.write_text("## Postoperative complication categories\n1. Acute kidney injury\n- x\n## General grading\n- M\n")
    with pytest.raises(definitions.DefinitionsError, match="missing definitions for ards"):
        definitions.load_definitions(bad)
    with pytest.raises(FileNotFoundError, match="definitions file not found"):
        definitions.load_definitions(tmp_path / "nope.md")
    assert definitions.load_definitions("zh").language == "zh"  # packaged since issue 14
    with pytest.raises(definitions.DefinitionsError, match="no packaged definitions for language 'fr'"):
        definitions.packaged_definitions_path("fr")


# ------------------------------------------------------------------------------------------ layouts
def test_targeted_paper_layout_record_last(en):
    out = prompts.targeted_prompts(RECORD, en)
    assert list(out) == [taxonomy.zh_heading(c) for c in taxonomy.IDS]
    p = out["谵妄"]
    assert p.endswith("Medical record:\n" + RECORD) and "whether the patient developed Delirium" in p
    assert "General grading" not in out["心律失常"]


def test_shared_prefix_identity(en):
    out = prompts.targeted_prompts(RECORD, en, layout="shared_prefix", complications=["ards", "肺炎", "Stroke"])
    assert list(out) == ["急性呼吸窘迫综合征 (ARDS)", "肺炎", "中风"]
    prefix = prompts.targeted_prefix(RECORD, en)
    assert RECORD.rstrip("\n") in prefix and prefix.endswith("\n\n")
    for cid in ("ards", "pneumonia", "stroke"):
        q = prompts.targeted_question(en, cid)
        assert out[taxonomy.zh_heading(cid)] == prefix + q
        assert RECORD not in q and en.headings[cid] in q


def test_comprehensive_prompt_both_languages(en, pericomp_dir):
    p = prompts.comprehensive_prompt(RECORD, en, think=True)
    assert p.endswith("### Medical record\n" + RECORD) and '"think"' in p and "{grading}" not in p
    assert en.categories in p
    nothink = prompts.comprehensive_prompt(RECORD, en, think=False)
    assert '"think"' not in nothink and "No postoperative complication" in nothink


def test_chat_prefix_suffix_identity(tokenizer, en):
    prefix, question = prompts.targeted_prefix(RECORD, en), prompts.targeted_question(en, "delirium")
    head, tail = chat.chat_prefix_suffix(tokenizer, prefix, question)
    assert head + tail == chat.chat_text(tokenizer, prefix + question)
    assert head.endswith(prefix) and tail.startswith(question)
    assert "<|im_start|>assistant" in tail  # the generation prompt belongs to the tail


def test_chat_text_thinking_switch_and_plain_fallback(tokenizer):
    qwen_like = copy.deepcopy(tokenizer)
    qwen_like.chat_template = (
        "{% for m in messages %}<|user|>{{ m['content'] }}{% endfor %}<|assistant|>"
        "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}"
    )
    assert chat.chat_text(qwen_like, "hi", enable_thinking=False).endswith("<think>\n\n</think>\n\n")
    assert "<think>" not in chat.chat_text(qwen_like, "hi", enable_thinking=True)
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None
    assert chat.chat_text(plain, "hi") == "hi"
    assert chat.chat_text(None, "hi") == "hi"
    trimming = copy.deepcopy(tokenizer)
    trimming.chat_template = "{% for m in messages %}{{ m['content'][:5] }}{% endfor %}"
    with pytest.raises(ValueError, match="prompt_layout='paper'"):
        chat.chat_prefix_suffix(trimming, "record\n\n", "question")


# ------------------------------------------------------------------------------------------ targets
def test_targeted_target_positive_negative_and_languages():
    case = _case()
    pos = json.loads(gold_answers.targeted_target(case, "acute_kidney_injury"))
    assert set(pos) == {"think", "bool", "grading"}
    assert pos["bool"] == "True" and pos["grading"] == "moderate"
    assert "Creatinine 182 umol/L (baseline 84)" in pos["think"]
    assert json.loads(gold_answers.targeted_target(case, "myocardial_injury"))["grading"] == "Null"
    neg = json.loads(gold_answers.targeted_target(case, "delirium"))
    assert neg["bool"] == "False" and neg["grading"] == "Null"
    zh = json.loads(gold_answers.targeted_target(case, "急性肾损伤", "zh"))
    assert zh["grading"] == "中" and "急性肾损伤" in zh["think"] and "「Creatinine 182" in zh["think"]


def test_evidence_first_negatives_quote_the_trap_or_the_decisive_fact():
    meta = {"trap_evidence": {"paralytic_ileus": ["POD 1. Today: no flatus passed yet"]}}
    meta["negative_evidence"] = {
        "paralytic_ileus": ["POD 3. Today: passing flatus", *meta["trap_evidence"]["paralytic_ileus"]]
    }
    case = _case(meta=meta)
    think = lambda cid, q: json.loads(gold_answers.targeted_target(case, cid, "en", "evidence_first", q))  # noqa: E731
    assert think("paralytic_ileus", "trap") == {
        "think": "POD 1. Today: no flatus passed yet",
        "bool": "False",
        "grading": "Null",
    }
    assert think("paralytic_ileus", "decisive")["think"] == "POD 3. Today: passing flatus"
    assert think("delirium", "decisive")["think"] == "none"  # nothing charted for it
    # trap_decisive: the decisive fact where a trap was laid for the complication, "none" elsewhere
    meta["negative_evidence"]["pneumonia"] = ["chest X-ray: clear lung fields"]
    assert think("paralytic_ileus", "trap_decisive")["think"] == "none"  # no trap_for yet: a clean negative
    assert think("pneumonia", "decisive")["think"] == "chest X-ray: clear lung fields"
    meta["trap_for"] = {"paralytic_ileus": ["ileus_flatus_day3"]}
    assert think("paralytic_ileus", "trap_decisive")["think"] == "POD 3. Today: passing flatus"
    assert think("pneumonia", "trap_decisive")["think"] == "none"
    assert (
        think("acute_kidney_injury", "decisive")["think"] == think("acute_kidney_injury", "trap")["think"]
    )  # positives quote gold
    # trap_neighbour: a trap's look-alike first, else a present neighbour's finding, else "none"
    meta["neighbour_evidence"] = {
        "organ_space_ssi": ["purulent discharge from the superficial incision"],
        "paralytic_ileus": ["a neighbour's line"],
    }
    assert think("organ_space_ssi", "trap_neighbour")["think"] == "purulent discharge from the superficial incision"
    assert think("organ_space_ssi", "trap")["think"] == "none"
    assert think("paralytic_ileus", "trap_neighbour")["think"] == "POD 1. Today: no flatus passed yet"
    assert think("delirium", "trap_neighbour")["think"] == "none"
    with pytest.raises(ValueError, match="negative_quote"):
        gold_answers.targeted_target(case, "delirium", "en", "evidence_first", "nearest")


def test_comprehensive_target_shapes():
    case = _case()
    obj = json.loads(gold_answers.comprehensive_target(case))
    assert [c["name"] for c in obj["complications"]] == [
        "Acute kidney injury",
        "Myocardial injury after non-cardiac surgery",
    ]
    assert [c["grading"] for c in obj["complications"]] == ["moderate", "Null"] and len(obj["think"]) == 2
    assert all(taxonomy.lookup(c["name"]) for c in obj["complications"])
    empty = _case("c2", gold=[], language="zh")
    assert json.loads(gold_answers.comprehensive_target(empty, think=False)) == [
        {"name": "无术后并发症", "grading": "Null"}
    ]
    assert json.loads(gold_answers.comprehensive_target(empty))["complications"][0]["name"] == "无术后并发症"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_brief_criteria_question_is_the_criteria_then_the_brief_question(language):
    defs = definitions.load_definitions(language)
    for cid in ("paralytic_ileus", "myocardial_injury"):
        brief = prompts.targeted_question(defs, cid, "evidence_first", "brief")
        full = prompts.targeted_question(defs, cid, "evidence_first", "brief_criteria")
        assert full.endswith("\n" + brief) and defs.criteria(cid).strip() in full
        assert prompts.running_text_name(defs.headings[cid]) in full.splitlines()[0]
        assert full != prompts.targeted_question(defs, cid, "evidence_first", "criteria")  # no paper answer spec
    rows = sft_data.sft_examples(
        [_case("a", language=language)],
        "targeted",
        defs,
        layout="shared_prefix",
        complications=["myocardial_injury"],
        answer_layout="evidence_first",
        question_style="brief_criteria",
    )
    assert rows[0]["question"] == prompts.targeted_question(
        defs, "myocardial_injury", "evidence_first", "brief_criteria"
    )
    with pytest.raises(ValueError, match="unknown question_style 'terse'"):
        prompts.targeted_question(defs, "myocardial_injury", "evidence_first", "terse")


def test_sft_examples(en):
    cases = [_case("a"), _case("b", gold=[])]
    rows = sft_data.sft_examples(
        cases, "targeted", en, layout="shared_prefix", complications=["acute_kidney_injury", "delirium"]
    )
    assert len(rows) == 4 and {r["case_id"] for r in rows} == {"a", "b"}
    for r in rows:
        assert r["prompt"] == r["prefix"] + r["question"]
        json.loads(r["completion"])
    assert [json.loads(r["completion"])["bool"] for r in rows] == ["True", "False", "False", "False"]
    paper = sft_data.sft_examples(cases, "targeted", en)
    assert len(paper) == 44 and paper[0]["prefix"] is None
    comp = sft_data.sft_examples(cases, "comprehensive", en, think=False)
    assert [r["complication"] for r in comp] == [None, None]
    assert isinstance(json.loads(comp[0]["completion"]), list)
    with pytest.raises(ValueError, match="unknown strategy"):
        sft_data.sft_examples(cases, "all-at-once", en)


def test_token_lengths_proxy(en):
    assert tokens.count_tokens("急性肾损伤 is AKI") == 7
    built = {"a": prompts.targeted_prompts(RECORD, en, complications=["ards", "stroke"])}
    lengths = tokens.token_lengths(built)
    stats = tokens.length_stats(lengths)
    assert len(lengths) == 2 and "50%" in stats.columns and "all" in stats.index


# ------------------------------------------------------------------------------------------ notebook
@pytest.mark.notebook
def test_notebook_02_writes_prompt_files(tmp_path, run_notebook):
    out = tmp_path / "run"
    records.write_cohort(out / "cohort.jsonl", [_case("a"), _case("b", gold=[], split="test")])
    run_notebook(
        "02_prompts.ipynb", run_dir=str(out), prompt_layout="paper", complications=["acute_kidney_injury", "delirium"]
    )
    built = json.loads((out / "targeted_prompts.json").read_text(encoding="utf-8"))
    targets = json.loads((out / "sft_targets.json").read_text(encoding="utf-8"))
    assert set(built) == {"a", "b"} and list(built["a"]) == ["急性肾损伤", "谵妄"]
    assert json.loads(targets["a"]["急性肾损伤"])["bool"] == "True"
    assert json.loads(targets["b"]["谵妄"])["bool"] == "False"
    run_notebook(
        "02_prompts.ipynb", run_dir=str(out), strategy="comprehensive", comprehensive_think=False, complications=None
    )
    comp = json.loads((out / "comprehensive_prompts.json").read_text(encoding="utf-8"))
    assert comp["a"].endswith(RECORD)


# ------------------------------------------------------------------------------------ one of each
def test_one_token_count_and_one_strategies_tuple():
    from pericomp_lib.cohort import build
    from pericomp_lib.core import params
    from pericomp_lib.inference import result_files

    assert build.count_tokens is tokens.count_tokens  # 01 (records) and 02 (prompts) count alike
    assert prompts.STRATEGIES is result_files.STRATEGIES is taxonomy.STRATEGIES
    assert params.Params.model_fields["strategy"].default in taxonomy.STRATEGIES
