"""Prompts and SFT targets: the paper's exact prompt layouts, a cache-friendly layout, chat rendering.

The authors built every prompt by wrapping fixed instruction text around (a) the complication
definitions file and (b) one medical record. The wrapping text is the method and lives here; the
definitions and records are always read at run time, so that `layout="paper"` with their
`defination*.md` reproduces their published prompt files byte for byte.

Two layouts for the targeted strategy (one question per complication):
- "paper": instruction + criteria + answer spec + record (the record comes last, as published);
- "shared_prefix": record first, then the question, so the 22 prompts of one case share a prefix and
  inference can reuse its KV cache instead of re-reading the record 22 times.
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import taxonomy
from .io import write_json
from .records import Case

STRATEGIES = ("targeted", "comprehensive")
LAYOUTS = ("paper", "shared_prefix")
# Order of the keys in a targeted answer. "paper": {"think", "bool", "grading"} as published.
# "decision_first": {"bool", "grading", "think"}: the decision is the first free token of the answer, so a
# small model's training signal and its P(True) sit on one token instead of after a generated rationale.
ANSWER_LAYOUTS = ("paper", "decision_first")
ANSWER_KEYS = {"paper": ("think", "bool", "grading"), "decision_first": ("bool", "grading", "think")}
# What a targeted question says. "criteria": the complication's full EPCO criteria (the paper).
# "brief": the complication's name only: a model too small to apply criteria text learns them from
# the gold answers instead, and each question costs ~20 tokens instead of ~250.
QUESTION_STYLES = ("criteria", "brief")

# Section markers of a definitions file, per language. The grading title doubles as the placeholder
# that sections write ("分级：常规分级") and that targeted prompts replace by the general grading text.
FLAGS = {
    "zh": ("## 术后并发症类别", "## 常规分级"),
    "en": ("## Postoperative complication categories", "## General grading"),
}
_HEADING = re.compile(r"^(\d+)\.[ \t]+([^\n]*)\n?", re.M)


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
        "comprehensive_instruction": "你是一名资深外科医生，你的任务是根据患者的资料，判断患者术后出现哪些并发症，并发症的诊断依据:\n",
        "comprehensive_think": """
### 输出json格式
1. 首先，输出一个think字段，内容为一个数组，每个元素是一个字符串，表示对病例的思考和考虑过程。例如：
    * "患者术后恢复良好，无明显不适"
    * "肌钙蛋白T升高，提示可能存在心肌损伤"
2. 然后，输出一个complications字段，内容为一个数组，每个元素包含：
    * name: 并发症的名称，必须是22个预定义并发症之一
""" + _ZH_GRADE_OPTIONS + """
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
""" + _ZH_GRADE_OPTIONS + """
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
        "targeted_instruction": "你是一名资深外科医生，你的任务是根据病例资料，判断患者术后是否出现{complication}，该并发症的诊断依据:\n",
        "targeted_spec": '\n注意诊断标准必须全部符合（除非标准明确指出符合其中之一）。请输出如下json格式：\n'
        '{{"think": "...(你的step by step思考过程)", "bool": "True/False(判断患者是否出现并发症，只能输出True和False的其中一个)", '
        '"grading" "Null/轻/中/重度（该并发症的严重程度，只能输出一种）"}}\n',
        "record_label": "病历资料：\n",
        # shared_prefix layout (ours): the role and the record first, the question after
        "shared_intro": "你是一名资深外科医生，请阅读以下病例资料，然后回答关于术后并发症的问题。\n",
        "shared_question": "你的任务是根据上述病例资料，判断患者术后是否出现{complication}，该并发症的诊断依据:\n",
        # answer_layout decision_first / question_style brief (CPU profile; see ANSWER_LAYOUTS)
        "targeted_spec_decision_first": '\n注意诊断标准必须全部符合（除非标准明确指出符合其中之一）。请输出如下json格式：\n'
        '{"bool": "True/False(判断患者是否出现并发症，只能输出True和False的其中一个)", '
        '"grading": "Null/轻/中/重（该并发症的严重程度，只能输出一种）", "think": "...(判断依据)"}\n',
        "brief_question": "问题：患者术后是否出现{complication}？请输出json，字段依次为：{keys}。\n",
    },
    "en": {
        "comprehensive_instruction": "You are a senior surgeon. Your task is to determine from the patient's records which complications the patient developed after surgery. Diagnostic criteria for the complications:\n",
        "comprehensive_think": """
### Output JSON format
1. First, output a "think" field: an array of strings, each one a step of your reasoning about the case. For example:
    * "The patient recovered well after surgery without notable discomfort"
    * "Troponin T rose, which suggests myocardial injury"
2. Then output a "complications" field: an array whose elements contain:
    * name: the name of the complication, which must be one of the 22 predefined complications
""" + _EN_GRADE_OPTIONS + """
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
""",
        "comprehensive_nothink": """
### Output JSON format
Output a list; each element is an object containing:
    * name: the name of the complication, which must be one of the 22 predefined complications
""" + _EN_GRADE_OPTIONS + """
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
        "targeted_instruction": "You are a senior surgeon. Your task is to decide from the medical record whether the patient developed {complication} after surgery. Diagnostic criteria for this complication:\n",
        "targeted_spec": '\nAll diagnostic criteria must be met (unless a criterion says explicitly that one of them is enough). Output JSON in this format:\n'
        '{"think": "...(your step-by-step reasoning)", "bool": "True/False (whether the patient developed the complication; output exactly one of True and False)", '
        '"grading": "Null/mild/moderate/severe (the severity of this complication; output exactly one)"}\n',
        "record_label": "Medical record:\n",
        "shared_intro": "You are a senior surgeon. Read the medical record below, then answer a question about postoperative complications.\n",
        "shared_question": "Your task is to decide from the medical record above whether the patient developed {complication} after surgery. Diagnostic criteria for this complication:\n",
        "targeted_spec_decision_first": '\nAll diagnostic criteria must be met (unless a criterion says explicitly that one of them is enough). Output JSON in this format:\n'
        '{"bool": "True/False (whether the patient developed the complication; output exactly one of True and False)", '
        '"grading": "Null/mild/moderate/severe (the severity of this complication; output exactly one)", '
        '"think": "...(the evidence for your decision)"}\n',
        "brief_question": "Question: did the patient develop {complication} after surgery? Answer in JSON with the keys {keys}.\n",
    },
}
# The answer vocabulary of each language (what targets write and the templates ask for).
GRADE_WORDS = {
    "zh": {"mild": "轻", "moderate": "中", "severe": "重", "none": "Null"},
    "en": {"mild": "mild", "moderate": "moderate", "severe": "severe", "none": "Null"},
}


# -------------------------------------------------------------------------------------- definitions
class DefinitionsError(ValueError):
    """A definitions file that the prompt builders cannot use; the message names the file and fix."""


@dataclass
class Definitions:
    text: str
    language: str
    source: str
    categories: str  # the raw block between the two section markers (the comprehensive prompt body)
    general_grading: str  # raw text after the grading marker
    sections: dict[str, str] = field(default_factory=dict)  # cid -> criteria text under the heading
    headings: dict[str, str] = field(default_factory=dict)  # cid -> heading as written

    @property
    def placeholder(self) -> str:
        return FLAGS[self.language][1].lstrip("# ")

    @property
    def grading_inline(self) -> str:
        """General grading on one line (tabs for newlines), as the authors splice it into prompts."""
        return self.general_grading.replace("\n", "\t")

    def criteria(self, cid: str) -> str:
        """Criteria of one complication with the general-grading placeholder spelled out."""
        return self.sections[cid].replace(self.placeholder, self.grading_inline)


def packaged_definitions_path(language: str = "en") -> Path:
    """Our own EPCO definitions (en, and zh in the authors' section layout). The authors' exact wording is
    their prompt/defination_modified.md: pass its path as `definitions` to reproduce their prompts."""
    if language not in FLAGS:
        raise DefinitionsError(
            f"no packaged definitions for language {language!r} (pericomp_lib ships {', '.join(FLAGS)}); pass the "
            "path of a definitions markdown file as `definitions`"
        )
    return Path(str(resources.files("pericomp_lib") / "data" / f"definitions_{language}.md"))


def parse_definitions(text: str, source: str = "<definitions>") -> Definitions:
    """Split a definitions file into the 22 numbered sections and the general grading."""
    language = next((lang for lang, (cat, _) in FLAGS.items() if cat in text), None)
    if language is None:
        markers = " or ".join(repr(c) for c, _ in FLAGS.values())
        raise DefinitionsError(f"{source}: no complication-category marker ({markers}); is this a definitions file?")
    cat_flag, grade_flag = FLAGS[language]
    start, end = text.find(cat_flag), text.find(grade_flag)
    if end < 0 or end < start:
        raise DefinitionsError(f"{source}: the general grading section {grade_flag!r} must follow {cat_flag!r}")
    categories = text[start + len(cat_flag): end]
    general = text[end + len(grade_flag):]
    matches = list(_HEADING.finditer(categories))
    sections: dict[str, str] = {}
    headings: dict[str, str] = {}
    for i, m in enumerate(matches):
        heading = m.group(2)
        cid = taxonomy.lookup(heading)
        line = categories.count("\n", 0, m.start()) + text.count("\n", 0, start) + 1
        if cid is None or cid == taxonomy.NONE_ID:
            raise DefinitionsError(
                f"{source}:{line}: heading {heading!r} is not one of the 22 complications (nearest: "
                f"{taxonomy.nearest_id(heading)!r}); number only complication headings at the start of a line"
            )
        if cid in sections:
            raise DefinitionsError(f"{source}:{line}: complication {cid!r} defined twice")
        stop = matches[i + 1].start() if i + 1 < len(matches) else len(categories)
        sections[cid] = categories[m.end(): stop]
        headings[cid] = heading
    missing = [c for c in taxonomy.IDS if c not in sections]
    if missing:
        raise DefinitionsError(f"{source}: missing definitions for {', '.join(missing)}; all 22 complications are needed")
    return Definitions(text, language, source, categories, general, sections, headings)


def load_definitions(path_or_language: str | Path | None = None, language: str = "en") -> Definitions:
    """None or a language code -> the packaged file; a path -> that file (its language from its markers)."""
    if path_or_language is None or str(path_or_language) in FLAGS:
        path = packaged_definitions_path(str(path_or_language or language))
    else:
        path = Path(path_or_language).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: definitions file not found; pass None for the packaged English definitions or the "
                "path of a definitions markdown file (e.g. <PeriComp clone>/prompt/defination_modified.md)"
            )
    return parse_definitions(path.read_text(encoding="utf-8"), str(path))


def _as_definitions(definitions: Definitions | str | Path | None) -> Definitions:
    return definitions if isinstance(definitions, Definitions) else load_definitions(definitions)


# ------------------------------------------------------------------------------------------ prompts
def comprehensive_prompt(record: str, definitions: Definitions, think: bool = True,
                         complications: Iterable[str] | None = None) -> str:
    """All 22 complications in one prompt (the record last), with or without the think field.

    With `complications`, only those definitions, renumbered, and the count in the instructions follows:
    the comprehensive question about exactly the complications a targeted run asked (CPU profile)."""
    t = TEMPLATES[definitions.language]
    spec = t["comprehensive_think" if think else "comprehensive_nothink"].replace("{grading}", definitions.grading_inline)
    if complications is None:
        return t["comprehensive_instruction"] + definitions.categories + spec + record
    cids = _select(definitions, complications)
    body = "\n" + "".join(f"{i}. {definitions.headings[c]}\n{definitions.sections[c].strip(chr(10))}\n\n"
                          for i, c in enumerate(cids, 1))
    for old, new in (("22个", f"{len(cids)}个"), ("the 22 predefined", f"the {len(cids)} predefined"),
                     ("the 22 above", f"the {len(cids)} above")):
        spec = spec.replace(old, new)
    return t["comprehensive_instruction"] + body + spec + record


def _select(definitions: Definitions, complications: Iterable[str] | None) -> list[str]:
    """Requested complications (any spelling) in the definitions' order."""
    if complications is None:
        return list(definitions.sections)
    wanted = {taxonomy.canonical_id(c) for c in complications}
    wanted.discard(taxonomy.NONE_ID)
    return [c for c in definitions.sections if c in wanted]


def _spec(definitions: Definitions, answer_layout: str) -> str:
    if answer_layout not in ANSWER_LAYOUTS:
        raise ValueError(f"unknown answer_layout {answer_layout!r}; use one of {', '.join(ANSWER_LAYOUTS)}")
    t = TEMPLATES[definitions.language]
    return t["targeted_spec" if answer_layout == "paper" else "targeted_spec_decision_first"]


def _targeted_body(definitions: Definitions, cid: str, instruction_key: str, answer_layout: str = "paper",
                   question_style: str = "criteria") -> str:
    if question_style not in QUESTION_STYLES:
        raise ValueError(f"unknown question_style {question_style!r}; use one of {', '.join(QUESTION_STYLES)}")
    t = TEMPLATES[definitions.language]
    name = definitions.headings[cid]
    if question_style == "brief":  # the keys only: the schema (constrained) or training teaches the rest
        keys = ", ".join(ANSWER_KEYS[answer_layout] if answer_layout in ANSWER_KEYS else ANSWER_KEYS["paper"])
        return t["brief_question"].replace("{complication}", name).replace("{keys}", keys)
    return t[instruction_key].replace("{complication}", name) + definitions.criteria(cid) + _spec(definitions, answer_layout)


def targeted_prefix(record: str, definitions: Definitions) -> str:
    """The part every targeted prompt of a case shares in the shared_prefix layout (ends after the record)."""
    t = TEMPLATES[definitions.language]
    return t["shared_intro"] + t["record_label"] + record.rstrip("\n") + "\n\n"


def targeted_question(definitions: Definitions, cid: str, answer_layout: str = "paper",
                      question_style: str = "criteria") -> str:
    """The complication-specific tail of a shared_prefix targeted prompt."""
    return _targeted_body(definitions, taxonomy.canonical_id(cid), "shared_question", answer_layout, question_style)


def targeted_prompts(record: str, definitions: Definitions, layout: str = "paper",
                     complications: Iterable[str] | None = None, answer_layout: str = "paper",
                     question_style: str = "criteria") -> dict[str, str]:
    """{zh heading: prompt}, one question per complication, in the definitions' order."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown prompt layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    t = TEMPLATES[definitions.language]
    out: dict[str, str] = {}
    if layout == "paper":
        for cid in _select(definitions, complications):
            body = _targeted_body(definitions, cid, "targeted_instruction", answer_layout, question_style)
            out[taxonomy.zh_heading(cid)] = body + t["record_label"] + record
    else:
        prefix = targeted_prefix(record, definitions)
        for cid in _select(definitions, complications):
            out[taxonomy.zh_heading(cid)] = prefix + targeted_question(definitions, cid, answer_layout, question_style)
    return out


# --------------------------------------------------------------------------------------- chat text
def _uses_thinking_switch(tokenizer) -> bool:
    template = getattr(tokenizer, "chat_template", None)
    return isinstance(template, str) and "enable_thinking" in template


def chat_text(tokenizer, user_text: str, enable_thinking: bool = False) -> str:
    """One user turn rendered by the model's chat template, ready for generation; plain text when the
    tokenizer has no template (base models) or no tokenizer is given."""
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return user_text
    kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": True}
    if _uses_thinking_switch(tokenizer):  # Qwen3: thinking on/off lives in the template
        kwargs["enable_thinking"] = enable_thinking
    return tokenizer.apply_chat_template([{"role": "user", "content": user_text}], **kwargs)


_SENTINEL = "\u2063PERICOMP-SPLIT\u2063"


def chat_prefix_suffix(tokenizer, prefix: str, question: str, enable_thinking: bool = False) -> tuple[str, str]:
    """(head, tail) with head + tail == chat_text(prefix + question) and head ending right after the
    record prefix, so the KV cache of `head` serves all 22 questions of a case."""
    full = chat_text(tokenizer, prefix + question, enable_thinking)
    marked = chat_text(tokenizer, prefix + _SENTINEL + question, enable_thinking)
    if marked.count(_SENTINEL) != 1:
        raise ValueError("the chat template rewrites the prompt text, so it cannot be split after the record; "
                         "use prompt_layout='paper' with this model")
    head, tail = marked.split(_SENTINEL)
    if head + tail != full:
        raise ValueError(
            "the chat template renders the prompt differently around the split point (it trims or rewrites "
            "content); use prompt_layout='paper' with this model"
        )
    return head, tail


# ------------------------------------------------------------------------------------------ targets
def _language(definitions_or_language: Definitions | str | None, case: Case) -> str:
    if isinstance(definitions_or_language, Definitions):
        return definitions_or_language.language
    lang = definitions_or_language or case.language
    if lang not in TEMPLATES:
        raise ValueError(f"case {case.case_id}: unknown language {lang!r}; use one of {', '.join(TEMPLATES)}")
    return lang


def _name(cid: str, language: str) -> str:
    return taxonomy.zh_heading(cid) if language == "zh" else taxonomy.english(cid)


def _justification(cid: str, gold, language: str) -> str:
    """A short think text that quotes the gold evidence (or says nothing in the record fits)."""
    name = _name(cid, language)
    if language == "zh":
        if gold is None:
            return f"病历中没有符合{name}诊断标准的记录，不诊断{name}。"
        level = {"mild": "轻度", "moderate": "中度", "severe": "重度", "none": "无分级"}[gold.grade]
        quoted = "；".join(f"「{e}」" for e in gold.evidence)
        basis = f"病历记录：{quoted}。" if quoted else "病历记录中有相应表现。"
        return f"{basis}符合{name}的诊断标准，严重程度：{level}。"
    if gold is None:
        return f"Nothing in the record meets the diagnostic criteria for {name}; it is not diagnosed."
    level = {"mild": "mild", "moderate": "moderate", "severe": "severe", "none": "not graded"}[gold.grade]
    quoted = "; ".join(json.dumps(e, ensure_ascii=False) for e in gold.evidence)
    basis = f"The record states: {quoted}. " if quoted else "The record documents the corresponding findings. "
    return f"{basis}This meets the diagnostic criteria for {name}; severity: {level}."


def _verdict(cid: str, gold, language: str) -> str:
    """The decision_first think: one short line after the decision, no quoted evidence, so the answer's
    loss is spent on the decision and the grade rather than on copying record text."""
    name = _name(cid, language)
    if language == "zh":
        if gold is None:
            return f"不符合{name}的诊断标准。"
        level = {"mild": "轻度", "moderate": "中度", "severe": "重度", "none": "无分级"}[gold.grade]
        return f"符合{name}的诊断标准，{level}。"
    if gold is None:
        return f"The criteria for {name} are not met."
    level = {"mild": "mild", "moderate": "moderate", "severe": "severe", "none": "not graded"}[gold.grade]
    return f"The criteria for {name} are met; {level}."


def targeted_target(case: Case, cid: str, language: str | None = None, answer_layout: str = "paper") -> str:
    """The answer a targeted prompt should get, from gold labels, in the paper's answer format:
    {"think": str, "bool": "True"|"False", "grading": 轻/中/重/Null (mild/moderate/severe/Null in en)},
    keys in the order of `answer_layout`."""
    lang = _language(language, case)
    cid = taxonomy.canonical_id(cid)
    gold = next((g for g in case.gold if g.complication == cid), None)
    grade = "none" if gold is None else gold.grade
    think = _verdict(cid, gold, lang) if answer_layout == "decision_first" else _justification(cid, gold, lang)
    answer = {"think": think, "bool": "True" if gold else "False",
              "grading": GRADE_WORDS[lang][grade]}
    if answer_layout not in ANSWER_KEYS:
        raise ValueError(f"unknown answer_layout {answer_layout!r}; use one of {', '.join(ANSWER_LAYOUTS)}")
    return json.dumps({k: answer[k] for k in ANSWER_KEYS[answer_layout]}, ensure_ascii=False)


def comprehensive_target(case: Case, think: bool = True, language: str | None = None) -> str:
    """The comprehensive answer from gold labels: {"think": [...], "complications": [...]} or, without
    think, the bare list; no complication is answered as the paper's "无术后并发症" / Null."""
    lang = _language(language, case)
    order = {c: i for i, c in enumerate(taxonomy.IDS)}
    gold = sorted(case.gold, key=lambda g: order[g.complication])
    items = [{"name": _name(g.complication, lang), "grading": GRADE_WORDS[lang][g.grade]} for g in gold]
    if not items:
        none_name = taxonomy.NONE_ZH if lang == "zh" else taxonomy.NONE_EN
        items = [{"name": none_name, "grading": "Null"}]
    if not think:
        return json.dumps(items, ensure_ascii=False)
    if gold:
        thoughts = [_justification(g.complication, g, lang) for g in gold]
    else:
        thoughts = ["病历中没有符合任何术后并发症诊断标准的记录。" if lang == "zh"
                    else "Nothing in the record meets the criteria of any postoperative complication."]
    return json.dumps({"think": thoughts, "complications": items}, ensure_ascii=False)


# -------------------------------------------------------------------------------------- SFT + files
def _check(strategy: str, layout: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown prompt layout {layout!r}; use one of {', '.join(LAYOUTS)}")


def _case_examples(case: Case, strategy: str, definitions: Definitions, layout: str,
                   cids: Sequence[str], think: bool, answer_layout: str = "paper",
                   question_style: str = "criteria") -> list[dict[str, Any]]:
    lang = definitions.language
    if strategy == "comprehensive":
        return [{"case_id": case.case_id, "complication": None, "prompt": comprehensive_prompt(case.record, definitions, think),
                 "completion": comprehensive_target(case, think, lang), "prefix": None, "question": None}]
    rows = []
    prompts = targeted_prompts(case.record, definitions, layout, cids, answer_layout, question_style)
    prefix = targeted_prefix(case.record, definitions) if layout == "shared_prefix" else None
    gold = {g.complication for g in case.gold}
    for cid in cids:
        question = targeted_question(definitions, cid, answer_layout, question_style) if prefix is not None else None
        rows.append({"case_id": case.case_id, "complication": cid, "prompt": prompts[taxonomy.zh_heading(cid)],
                     "completion": targeted_target(case, cid, lang, answer_layout), "prefix": prefix,
                     "question": question, "positive": cid in gold})
    return rows


def sft_examples(cases: Iterable[Case], strategy: str, definitions: Definitions | str | Path | None,
                 layout: str = "paper", complications: Iterable[str] | None = None,
                 think: bool = True, answer_layout: str = "paper", question_style: str = "criteria") -> list[dict[str, Any]]:
    """Prompt/completion pairs from gold labels: one per case (comprehensive) or per case x complication
    (targeted). A case that fails is reported by id in a warning, never dropped silently."""
    _check(strategy, layout)
    definitions = _as_definitions(definitions)
    cids = _select(definitions, complications)
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    for case in cases:
        try:
            rows.extend(_case_examples(case, strategy, definitions, layout, cids, think, answer_layout, question_style))
        except (ValueError, KeyError, TypeError) as e:
            failed.append(f"{case.case_id} ({e})")
    if failed:
        warnings.warn(f"sft_examples: {len(failed)} case(s) skipped: {'; '.join(failed[:10])}", stacklevel=2)
    return rows


def build_prompt_files(cases: Sequence[Case], definitions: Definitions | str | Path | None, out_dir: str | Path,
                       strategy: str = "targeted", layout: str = "paper", think: bool = True,
                       complications: Iterable[str] | None = None, answer_layout: str = "paper",
                       question_style: str = "criteria") -> dict[str, Any]:
    """Write <strategy>_prompts.json in the authors' shape ({case_id: {zh heading: prompt}} or
    {case_id: prompt}) and sft_targets.json (same shape, gold answers), atomically."""
    from tqdm.auto import tqdm

    definitions = _as_definitions(definitions)
    mismatched = [c.case_id for c in cases if c.language != definitions.language]
    if mismatched:
        warnings.warn(f"{len(mismatched)} case(s) are language != {definitions.language!r} definitions "
                      f"(e.g. {mismatched[:3]}); prompts follow the definitions' language", stacklevel=2)
    prompts: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    for case in tqdm(cases, desc=f"{strategy} prompts", unit="case"):
        rows = sft_examples([case], strategy, definitions, layout, complications, think, answer_layout, question_style)
        if strategy == "comprehensive":
            prompts[case.case_id], targets[case.case_id] = (rows[0]["prompt"], rows[0]["completion"]) if rows else (None, None)
        else:
            prompts[case.case_id] = {taxonomy.zh_heading(r["complication"]): r["prompt"] for r in rows}
            targets[case.case_id] = {taxonomy.zh_heading(r["complication"]): r["completion"] for r in rows}
    out_dir = Path(out_dir)
    prompts_path = write_json(out_dir / f"{strategy}_prompts.json", prompts)
    targets_path = write_json(out_dir / "sft_targets.json", targets)
    return {"prompts": prompts, "targets": targets, "prompts_path": prompts_path, "targets_path": targets_path}


# ------------------------------------------------------------------------------------ token lengths
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def proxy_tokens(text: str) -> int:
    """Rough token count without a tokenizer: one per CJK character plus one per other word."""
    return len(_CJK.findall(text)) + len(_CJK.sub(" ", text).split())


def token_lengths(prompts: dict[str, Any], tokenizer=None) -> "Any":
    """One row per prompt (case_id, complication, tokens); `tokenizer=None` uses `proxy_tokens`."""
    import pandas as pd

    rows = []
    for case_id, value in prompts.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for key, text in items:
            if text is None:
                continue
            n = proxy_tokens(text) if tokenizer is None else len(tokenizer(text, add_special_tokens=False)["input_ids"])
            rows.append({"case_id": case_id, "complication": key, "tokens": n})
    return pd.DataFrame(rows, columns=["case_id", "complication", "tokens"])


def length_stats(lengths) -> "Any":
    """Quartiles of prompt length, overall and per complication for targeted prompts."""
    import pandas as pd

    overall = lengths["tokens"].describe().to_frame("all").T
    if lengths["complication"].notna().any():
        per = lengths.groupby("complication", sort=False)["tokens"].describe()
        return pd.concat([overall, per])
    return overall
