"""Question answering by subject: pick a subject, ask a question, answer from that subject's own chart.

The prompt is the training prompt (pairs.prompt_messages over context.patient_context), so the adapter sees at
answer time what it saw in training; the original study's validation never passed a subject's context to the
model, so its trials measured answers to a bare question. A context longer than the model can take is cut
line by line from its end, and the cut is said, never silent.

    pericomp qa --run-dir runs/chart-qa/seed-1 --params params/smollm2-135m-chartqa.yaml \\
        --subject-id 10000007 --question "I have some bruising on my arms. What should I do?" [--base]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.io import read_json
from . import context as chart_context
from . import pairs

log = logging.getLogger(__name__)

SELECTION_FILE = "qa_selection.json"  # 02b: the table.columns the column selection dropped from the context


class QAError(ValueError):
    """A subject, question or prompt that cannot be answered; the message says which and what to do."""


@dataclass
class Answer:
    subject_id: int
    question: str
    model: str  # "base" or "adapter"
    text: str
    context: str
    n_tokens: int
    seconds: float
    prompt_tokens: int
    cut: str | None = None  # what was cut from the context to fit the model, or None
    missing: list[str] = field(default_factory=list)  # what the chart could not supply (tables absent)

    def as_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------ subjects
def load_subjects(path: str | os.PathLike) -> dict[int, dict]:
    """subjects.jsonl -> {subject_id: subject}; a broken line stops with file:line (iter_subjects)."""
    from ..cohort.mimic import iter_subjects

    path = Path(path)
    if not path.exists():
        raise QAError(f"{path}: no subjects.jsonl; run the MIMIC ingestion first (notebooks/01b_mimic or 01)")
    problems: list[str] = []
    subjects = {int(s["subject_id"]): s for s in iter_subjects(path, problems)}
    for p in problems:
        log.warning("%s", p)
    return subjects


def subject(subjects: dict[int, dict], subject_id, source: str | os.PathLike = "subjects.jsonl") -> dict:
    try:
        key = int(subject_id)
    except (TypeError, ValueError):
        raise QAError(f"subject id {subject_id!r} is not a number; give a subject_id from {source}") from None
    if key not in subjects:
        some = ", ".join(str(k) for k in sorted(subjects)[:5])
        raise QAError(f"{source}: subject {key} not found ({len(subjects)} subjects; e.g. {some})")
    return subjects[key]


def dropped_columns(run_dir: str | os.PathLike) -> frozenset[str]:
    """The column selection's dropped table.columns (02b), or none when the selection was not run."""
    path = Path(run_dir) / SELECTION_FILE
    return frozenset(read_json(path).get("dropped", [])) if path.exists() else frozenset()


# ------------------------------------------------------------------------------------------- prompts
def check_question(question) -> str:
    if not isinstance(question, str) or not question.strip():
        raise QAError("the question is empty; ask something, e.g. --question 'I feel dizzy when I stand up'")
    return question.strip()


def fit_prompt(tok, context_text: str, question: str, limit: int, max_new_tokens: int) -> tuple[str, str, str | None]:
    """(rendered prompt, the context used, what was cut or None): the context loses its last lines until the
    prompt plus the answer budget fit `limit` tokens; a question that cannot fit even with no context fails."""
    from ..prompting.chat import chat_messages_text

    def render(ctx: str) -> tuple[str, int]:
        text = chat_messages_text(tok, pairs.prompt_messages(ctx, question))
        return text, len(tok(text, add_special_tokens=False)["input_ids"])

    lines = context_text.splitlines()
    text, n = render(context_text)
    budget = limit - max_new_tokens
    if n <= budget:
        return text, context_text, None
    keep = len(lines)
    while keep > 1 and n > budget:
        keep -= 1
        text, n = render("\n".join(lines[:keep]))
    if n > budget:
        raise QAError(
            f"the question alone takes {n} tokens, more than the model's context of {limit} minus the answer's "
            f"{max_new_tokens}; ask a shorter question or lower qa_max_new_tokens"
        )
    note = f"context cut to its first {keep} of {len(lines)} lines to fit the model's {limit} tokens"
    log.warning("%s", note)
    return text, "\n".join(lines[:keep]), note


def context_limit(model, tok) -> int:
    n = getattr(model.config, "max_position_embeddings", None) or getattr(tok, "model_max_length", None) or 2048
    return int(min(n, 32768))


# ------------------------------------------------------------------------------------------ answering
def generate(model, tok, prompts: Sequence[str], max_new_tokens: int, temperature: float = 0.0, seeds=None):
    """[(text, n_tokens, seconds)] for rendered prompts: one batch, greedy (left-padded, the same answers as one
    at a time); with temperature > 0, one prompt at a time with its own seed (sampling is then reproducible)."""
    import torch

    if temperature > 0:
        out = []
        for prompt, seed in zip(prompts, seeds or [0] * len(prompts)):
            torch.manual_seed(int(seed))
            out.extend(_generate(model, tok, [prompt], max_new_tokens, temperature))
        return out
    return _generate(model, tok, prompts, max_new_tokens, 0.0)


def _generate(model, tok, prompts, max_new_tokens: int, temperature: float):
    import torch

    t0 = time.perf_counter()
    side = tok.padding_side
    tok.padding_side = "left"
    try:
        enc = tok(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    finally:
        tok.padding_side = side
    kw = {"do_sample": True, "temperature": temperature, "top_p": 1.0} if temperature > 0 else {"do_sample": False}
    with torch.inference_mode():
        ids = model.generate(
            **enc, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **kw
        )
    seconds = (time.perf_counter() - t0) / len(prompts)
    out = []
    for row in ids[:, enc["input_ids"].shape[1] :]:
        row = row.tolist()
        n = next((i for i, t in enumerate(row) if t in (tok.eos_token_id, tok.pad_token_id)), len(row))
        out.append((tok.decode(row[:n], skip_special_tokens=True).strip(), n, round(seconds, 3)))
    return out


def load(params: dict, run_dir: str | os.PathLike | None, base: bool = False):
    """(model, tokenizer, adapter folder or None): the run's adapter/ when trained there and base is False.

    A 4-bit base on the CPU is dequantized before the adapter goes on: bitsandbytes' CPU path dequantizes every
    weight at every decoding step, and the dequantized copy holds exactly the 4-bit values the adapter was
    trained against (greedy answers identical, tests/test_chartqa_model.py), ~4x faster. On a GPU the 4-bit
    kernels run as trained (the study's way)."""
    from ..llm.models import adapter_folder, load_model

    adapter = None
    if not base and run_dir is not None and (Path(run_dir) / "adapter" / "adapter_config.json").exists():
        adapter = str(Path(run_dir) / "adapter")
    elif not base and params.get("adapter"):
        adapter = params["adapter"]
    model, tok = load_model(params, adapter="")
    if params.get("quantization") == "4bit" and model.device.type == "cpu":
        model = model.dequantize()
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_folder(adapter), is_trainable=False).eval()
    return model, tok, adapter


def ask(
    params: dict,
    run_dir: str | os.PathLike,
    subject_id,
    question: str,
    base: bool = False,
    loaded=None,
    subjects: dict[int, dict] | None = None,
) -> Answer:
    """One question about one subject, answered from that subject's context (the notebook cell and the CLI)."""
    question = check_question(question)
    run_dir = Path(run_dir)
    source = run_dir / "subjects.jsonl"
    subjects = subjects if subjects is not None else load_subjects(source)
    subj = subject(subjects, subject_id, source)
    ctx = chart_context.patient_context(subj, drop=dropped_columns(run_dir))
    model, tok, adapter = loaded or load(params, run_dir, base)
    max_new = int(params["qa_max_new_tokens"])
    prompt, used, cut = fit_prompt(tok, ctx.text, question, context_limit(model, tok), max_new)
    temp = float(params.get("qa_temperature") or 0.0)
    if adapter and base:
        with model.disable_adapter():
            ((text, n, sec),) = generate(model, tok, [prompt], max_new, temp, [params["seed"]])
    else:
        ((text, n, sec),) = generate(model, tok, [prompt], max_new, temp, [params["seed"]])
    who = "adapter" if adapter and not base else "base"
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    return Answer(int(subj["subject_id"]), question, who, text, used, n, sec, n_prompt, cut, list(ctx.missing))


def show(answer: Answer) -> str:
    """What the CLI prints: the context used, what was missing or cut, and the answer."""
    lines = [answer.context, ""]
    lines += [f"(not in this chart: {m})" for m in answer.missing]
    if answer.cut:
        lines.append(f"(note: {answer.cut})")
    lines += [f"Question: {answer.question}", "", f"Answer ({answer.model}, {answer.seconds:.1f} s):", answer.text]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- cli
def cli(argv: list[str] | None = None) -> int:
    from ..core.params import load_params

    ap = argparse.ArgumentParser(
        prog="pericomp qa", description="answer a question about one subject from that subject's chart"
    )
    ap.add_argument("--run-dir", required=True, help="folder holding subjects.jsonl (and adapter/ when trained)")
    ap.add_argument("--params", required=True, help="params file (the model; params/*.yaml)")
    ap.add_argument("--subject-id", required=True, help="a subject_id of subjects.jsonl")
    ap.add_argument("--question", required=True, help="the patient's question")
    ap.add_argument("--base", action="store_true", help="answer with the base model even when an adapter is there")
    ap.add_argument("--json", action="store_true", help="print the answer as JSON")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    try:
        answer = ask(params, args.run_dir, args.subject_id, args.question, base=args.base)
    except QAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(answer.as_dict(), ensure_ascii=False, indent=2) if args.json else show(answer))
    return 0
