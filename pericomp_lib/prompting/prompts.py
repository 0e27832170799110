"""Prompt text: the paper's exact prompt layouts and a cache-friendly one, built from definitions and a record.

The authors built every prompt by wrapping fixed instruction text around (a) the complication
definitions file and (b) one medical record. The wrapping text is the method and lives here; the
definitions and records are always read at run time (definitions.py), so that `layout="paper"` with their
`defination*.md` reproduces their published prompt files byte for byte.

Two layouts for the targeted strategy (one question per complication):
- "paper": instruction + criteria + answer spec + record (the record comes last, as published);
- "shared_prefix": record first, then the question, so the 22 prompts of one case share a prefix and
  inference can reuse its KV cache instead of re-reading the record 22 times.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..core import taxonomy
from ..core.taxonomy import STRATEGIES
from .definitions import Definitions

LAYOUTS = ("paper", "shared_prefix")
# Order of the keys in a targeted answer. "paper": {"think", "bool", "grading"} as published.
# "decision_first": {"bool", "grading", "think"}: the decision is the first free token of the answer, so a
# small model's training signal and its P(True) sit on one token instead of after a generated rationale.
# "evidence_first": the paper's key order, the think a verbatim quote of the record (the fact the decision
# rests on, or the look-alike a trap laid, or "none"): the model copies before it decides, so the decision
# reads one short line instead of the whole record (gold_answers._evidence).
ANSWER_LAYOUTS = ("paper", "decision_first", "evidence_first")
ANSWER_KEYS = {
    "paper": ("think", "bool", "grading"),
    "decision_first": ("bool", "grading", "think"),
    "evidence_first": ("think", "bool", "grading"),
}
# What a targeted question says. "criteria": the complication's full EPCO criteria (the paper).
# "brief": the complication's name only: a model too small to apply criteria text learns them from
# the gold answers instead, and each question costs ~20 tokens instead of ~250.
# "brief_criteria": the asked complication's criteria text, then the brief question: the paper's criteria without
# its ~90-token answer spec (the schema and training teach the keys), ~60-200 tokens a question.
QUESTION_STYLES = ("criteria", "brief", "brief_criteria")
BRIEF_STYLES = ("brief", "brief_criteria")
_SPEC_KEY = {
    "paper": "targeted_spec",
    "decision_first": "targeted_spec_decision_first",
    "evidence_first": "targeted_spec_evidence_first",
}


# ---------------------------------------------------------------------------------------- templates
# zh: the authors' wording, verbatim (prompt/prompts.ipynb of gscfwid/PeriComp), quirks included: the
# targeted answer spec keeps its doubled braces and the missing colon after "grading", because the
# published prompts (and the fine-tuned models) have them.
_ZH_GRADE_OPTIONS = """    * grading: 严重程度分级，只能是以下四个选项之一：
        * "轻" - 轻度：无需治疗
        * "中" - 中度：需治疗，无长期影响
        * "重" - 重度：导致器官功能受损或死亡，显著延长住院时间
        * "Null" - 无分级
"""
_EN_GRADE_OPTIONS = """    * grading: the severity grade, exactly one of these four options:
        * "mild" - no treatment needed
        * "moderate" - treatment needed, no lasting consequence
        * "severe" - organ dysfunction or death, or a markedly prolonged hospital stay
        * "Null" - not graded
"""

TEMPLATES: dict[str, dict[str, str]] = {
    "zh": {
        "comprehensive_instruction": (
            "你是一名资深外科医生，你的任务是根据患者的资料，判断患者术后出现哪些并发症，并发症的诊断依据:\n"
        ),
        "comprehensive_think": """
### 输出json格式
1. 首先，输出一个think字段，内容为一个数组，每个元素是一个字符串，表示对病例的思考和考虑过程。例如：
    * "患者术后恢复良好，无明显不适"
    * "肌钙蛋白T升高，提示可能存在心肌损伤"
2. 然后，输出一个complications字段，内容为一个数组，每个元素包含：
    * name: 并发症的名称，必须是22个预定义并发症之一
"""
        + _ZH_GRADE_OPTIONS
        + """
完整格式示例：
{
  "think": [
    "患者肾移植术后，根据指南排除急性肾损伤的诊断。",
    "术后首次肌钙蛋白T升高至0.040 ng/mL，符合非心脏手术后心肌损伤的定义。"
  ],
  "complications": [
    {
      "name": "非心脏手术后心肌损伤",
      "grading": "Null"
    }
  ]
}

注意：
- 如果没有发现术后并发症，请在complications数组中写明"无术后并发症"。
- 如发现了术后并发症，则必须包含在上述的22个之中，禁止输出自定义的并发症
- 常规分级按照{grading}
### 病历资料
""",
        "comprehensive_nothink": """
### 输出json格式
输出一个列表，每个元素为一个字典，包含：
    * name: 并发症的名称，必须是22个预定义并发症之一
"""
        + _ZH_GRADE_OPTIONS
        + """
完整格式示例：
[
    {
      "name": "非心脏手术后心肌损伤",
      "grading": "Null"
    }
]

注意：
- 如果没有发现术后并发症，请在数组中写明"无术后并发症"，分级为“Null”。
- 请列举你认为的所有并发症，但必须包含在上述的22个之中，禁止输出自定义的并发症
- 常规分级按照{grading}
### 病历资料
""",
        "targeted_instruction": (
            "你是一名资深外科医生，你的任务是根据病例资料，判断患者术后是否出现{complication}，该并发症的诊断依据:\n"
        ),
        "targeted_spec": (
            "\n注意诊断标准必须全部符合（除非标准明确指出符合其中之一）。请输出如下json格式：\n"
            '{{"think": "...(你的step by step思考过程)", '
            '"bool": "True/False(判断患者是否出现并发症，只能输出True和False的其中一个)", '
            '"grading" "Null/轻/中/重度（该并发症的严重程度，只能输出一种）"}}\n'
        ),
        "record_label": "病历资料：\n",
        # shared_prefix layout (ours): the role and the record first, the question after
        "shared_intro": "你是一名资深外科医生，请阅读以下病例资料，然后回答关于术后并发症的问题。\n",
        "shared_question": "你的任务是根据上述病例资料，判断患者术后是否出现{complication}，该并发症的诊断依据:\n",
        # answer_layout decision_first / question_style brief (CPU profile; see ANSWER_LAYOUTS)
        "targeted_spec_decision_first": "\n注意诊断标准必须全部符合（除非标准明确指出符合其中之一）。"
        "请输出如下json格式：\n"
        '{"bool": "True/False(判断患者是否出现并发症，只能输出True和False的其中一个)", '
        '"grading": "Null/轻/中/重（该并发症的严重程度，只能输出一种）", "think": "...(判断依据)"}\n',
        "targeted_spec_evidence_first": "\n注意诊断标准必须全部符合（除非标准明确指出符合其中之一）。"
        "请输出如下json格式：\n"
        '{"think": "...(病历中判断所依据的原文，没有则为“无”)", '
        '"bool": "True/False(判断患者是否出现并发症，只能输出True和False的其中一个)", '
        '"grading": "Null/轻/中/重（该并发症的严重程度，只能输出一种）"}\n',
        "brief_question": "问题：患者术后是否出现{complication}？请输出json，字段依次为：{keys}。\n",
        "brief_criteria": "{complication}的诊断依据：\n",
        "brief_comprehensive": "问题：患者术后出现了以下哪些并发症：{names}？请输出json，{shape}"
        "如果没有，name为“{none}”，grading为“Null”。\n",
        "brief_comprehensive_list": "一个列表，每个元素的字段为：name, grading；",
        "brief_comprehensive_think": "字段依次为：think, complications（一个列表，每个元素的字段为：name, grading）；",
    },
    "en": {
        "comprehensive_instruction": (
            "You are a senior surgeon. Your task is to determine from the patient's records which complications "
            "the patient developed after surgery. Diagnostic criteria for the complications:\n"
        ),
        "comprehensive_think": """
### Output JSON format
1. First, output a "think" field: an array of strings, each one a step of your reasoning about the case. For example:
    * "The patient recovered well after surgery without notable discomfort"
    * "Troponin T rose, which suggests myocardial injury"
2. Then output a "complications" field: an array whose elements contain:
    * name: the name of the complication, which must be one of the 22 predefined complications
"""
        + _EN_GRADE_OPTIONS
        + """
Complete example:
{
  "think": [
    "The operation was a kidney transplant, so the guideline rules out acute kidney injury.",
    "The first postoperative troponin T rose to 0.040 ng/mL, which meets the definition of myocardial injury after non-cardiac surgery."
  ],
  "complications": [
    {
      "name": "Myocardial injury after non-cardiac surgery",
      "grading": "Null"
    }
  ]
}

Notes:
- If you find no postoperative complication, write "No postoperative complication" in the complications array.
- Every complication you report must be one of the 22 above; never output a complication of your own.
- General grading follows {grading}
### Medical record
""",  # noqa: E501 - prompt text, kept byte for byte (its long example line included)
        "comprehensive_nothink": """
### Output JSON format
Output a list; each element is an object containing:
    * name: the name of the complication, which must be one of the 22 predefined complications
"""
        + _EN_GRADE_OPTIONS
        + """
Complete example:
[
    {
      "name": "Myocardial injury after non-cardiac surgery",
      "grading": "Null"
    }
]

Notes:
- If you find no postoperative complication, write "No postoperative complication" in the list, graded "Null".
- List every complication you find, but each must be one of the 22 above; never output a complication of your own.
- General grading follows {grading}
### Medical record
""",
        "targeted_instruction": (
            "You are a senior surgeon. Your task is to decide from the medical record whether the patient "
            "developed {complication} after surgery. Diagnostic criteria for this complication:\n"
        ),
        "targeted_spec": (
            "\nAll diagnostic criteria must be met (unless a criterion says explicitly that one of them is "
            "enough). Output JSON in this format:\n"
            '{"think": "...(your step-by-step reasoning)", "bool": "True/False (whether the patient developed the '
            'complication; output exactly one of True and False)", '
            '"grading": "Null/mild/moderate/severe (the severity of this complication; output exactly one)"}\n'
        ),
        "record_label": "Medical record:\n",
        "shared_intro": (
            "You are a senior surgeon. Read the medical record below, then answer a question about postoperative "
            "complications.\n"
        ),
        "shared_question": (
            "Your task is to decide from the medical record above whether the patient developed {complication} "
            "after surgery. Diagnostic criteria for this complication:\n"
        ),
        "targeted_spec_decision_first": (
            "\nAll diagnostic criteria must be met (unless a criterion says explicitly that one of them is "
            "enough). Output JSON in this format:\n"
            '{"bool": "True/False (whether the patient developed the complication; output exactly one of True and '
            'False)", '
            '"grading": "Null/mild/moderate/severe (the severity of this complication; output exactly one)", '
            '"think": "...(the evidence for your decision)"}\n'
        ),
        "targeted_spec_evidence_first": (
            "\nAll diagnostic criteria must be met (unless a criterion says explicitly that one of them is "
            "enough). Output JSON in this format:\n"
            '{"think": "...(the words of the record your decision rests on, or none)", '
            '"bool": "True/False (whether the patient developed the complication; output exactly one of True and '
            'False)", '
            '"grading": "Null/mild/moderate/severe (the severity of this complication; output exactly one)"}\n'
        ),
        "brief_question": (
            "Question: did the patient develop {complication} after surgery? Answer in JSON with the keys {keys}.\n"
        ),
        "brief_criteria": "Diagnostic criteria for {complication}:\n",
        "brief_comprehensive": (
            "Question: which of these complications did the patient develop after surgery: {names}? Answer in JSON: "
            '{shape}; if none, the name "{none}" graded "Null".\n'
        ),
        "brief_comprehensive_list": "a list of objects with the keys name, grading",
        "brief_comprehensive_think": "an object with the keys think, complications (a list of objects with the keys "
        "name, grading)",
    },
}


# ------------------------------------------------------------------------------------------ checks
def check_choice(what: str, value: str, allowed: Iterable[str]) -> None:
    """One wording for every 'unknown <setting>' error the builders raise."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; use one of {', '.join(allowed)}")


def check_strategy_layout(strategy: str, layout: str) -> None:
    check_choice("strategy", strategy, STRATEGIES)
    check_choice("prompt layout", layout, LAYOUTS)


# ------------------------------------------------------------------------------------------ prompts
def comprehensive_prompt(
    record: str, definitions: Definitions, think: bool = True, complications: Iterable[str] | None = None
) -> str:
    """All 22 complications in one prompt (the record last), with or without the think field.

    With `complications`, only those definitions, renumbered, and the count in the instructions follows:
    the comprehensive question about exactly the complications a targeted run asked (CPU profile)."""
    t = TEMPLATES[definitions.language]
    spec = t["comprehensive_think" if think else "comprehensive_nothink"].replace(
        "{grading}", definitions.grading_inline
    )
    if complications is None:
        return t["comprehensive_instruction"] + definitions.categories + spec + record
    cids = definitions.select(complications)
    body = "\n" + "".join(
        f"{i}. {definitions.headings[c]}\n{definitions.sections[c].strip(chr(10))}\n\n" for i, c in enumerate(cids, 1)
    )
    for old, new in (
        ("22个", f"{len(cids)}个"),
        ("the 22 predefined", f"the {len(cids)} predefined"),
        ("the 22 above", f"the {len(cids)} above"),
    ):
        spec = spec.replace(old, new)
    return t["comprehensive_instruction"] + body + spec + record


def comprehensive_question(
    definitions: Definitions, think: bool = False, complications: Iterable[str] | None = None
) -> str:
    """The brief comprehensive question, asked after targeted_prefix: the names the answer schema allows
    (constrained.comprehensive_schema), no criteria text, the same KV head as the case's targeted questions."""
    t = TEMPLATES[definitions.language]
    zh = definitions.language == "zh"
    names = [taxonomy.zh_heading(c) if zh else taxonomy.english(c) for c in definitions.select(complications)]
    shape = t["brief_comprehensive_think" if think else "brief_comprehensive_list"]
    return (
        t["brief_comprehensive"]
        .replace("{names}", ("、" if zh else "; ").join(names))
        .replace("{shape}", shape)
        .replace("{none}", taxonomy.NONE_ZH if zh else taxonomy.NONE_EN)
    )


def _spec(definitions: Definitions, answer_layout: str) -> str:
    check_choice("answer_layout", answer_layout, ANSWER_LAYOUTS)
    return TEMPLATES[definitions.language][_SPEC_KEY[answer_layout]]


def _targeted_body(
    definitions: Definitions,
    cid: str,
    instruction_key: str,
    answer_layout: str = "paper",
    question_style: str = "criteria",
) -> str:
    check_choice("question_style", question_style, QUESTION_STYLES)
    t = TEMPLATES[definitions.language]
    name = definitions.headings[cid]
    if question_style in BRIEF_STYLES:  # no answer spec, the keys only: the schema (constrained) or training teaches it
        name = running_text_name(name)
        keys = ", ".join(ANSWER_KEYS[answer_layout] if answer_layout in ANSWER_KEYS else ANSWER_KEYS["paper"])
        question = t["brief_question"].replace("{complication}", name).replace("{keys}", keys)
        if question_style == "brief":
            return question
        criteria = t["brief_criteria"].replace("{complication}", name) + definitions.criteria(cid).rstrip("\n")
        return criteria + "\n" + question
    return (
        t[instruction_key].replace("{complication}", name)
        + definitions.criteria(cid)
        + _spec(definitions, answer_layout)
    )


def running_text_name(heading: str) -> str:
    """A heading as notes write it mid-sentence ("Paralytic ileus" -> "paralytic ileus"; "ARDS" stays). BPE splits
    " Paralytic" and " paralytic" into different tokens, so a capitalised name in a brief question shares no token
    with "Impression: paralytic ileus" in the record, and a small model then fails to match the two (measured:
    the ileus question's AUROC was 0.59 while the three names whose later words match the notes scored 0.90-0.98)."""
    if len(heading) > 1 and heading[0].isupper() and heading[1].islower():
        return heading[0].lower() + heading[1:]
    return heading


def targeted_prefix(record: str, definitions: Definitions) -> str:
    """The part every targeted prompt of a case shares in the shared_prefix layout (ends after the record)."""
    t = TEMPLATES[definitions.language]
    return t["shared_intro"] + t["record_label"] + record.rstrip("\n") + "\n\n"


def targeted_question(
    definitions: Definitions, cid: str, answer_layout: str = "paper", question_style: str = "criteria"
) -> str:
    """The complication-specific tail of a shared_prefix targeted prompt."""
    return _targeted_body(definitions, taxonomy.canonical_id(cid), "shared_question", answer_layout, question_style)


def _paper_prompts(record: str, definitions: Definitions, cids: list[str], **style: str) -> dict[str, str]:
    label = TEMPLATES[definitions.language]["record_label"]
    return {
        taxonomy.zh_heading(cid): _targeted_body(definitions, cid, "targeted_instruction", **style) + label + record
        for cid in cids
    }


def _shared_prefix_prompts(record: str, definitions: Definitions, cids: list[str], **style: str) -> dict[str, str]:
    prefix = targeted_prefix(record, definitions)
    return {taxonomy.zh_heading(cid): prefix + targeted_question(definitions, cid, **style) for cid in cids}


_TARGETED_LAYOUTS = {"paper": _paper_prompts, "shared_prefix": _shared_prefix_prompts}


def targeted_prompts(
    record: str,
    definitions: Definitions,
    layout: str = "paper",
    complications: Iterable[str] | None = None,
    answer_layout: str = "paper",
    question_style: str = "criteria",
) -> dict[str, str]:
    """{zh heading: prompt}, one question per complication, in the definitions' order."""
    check_choice("prompt layout", layout, LAYOUTS)
    return _TARGETED_LAYOUTS[layout](
        record,
        definitions,
        definitions.select(complications),
        answer_layout=answer_layout,
        question_style=question_style,
    )
