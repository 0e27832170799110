"""The JSON answer inside a model's text: which part the authors would parse, and a tolerant decoder.

The authors parsed the body of a single ```json fence, else the text from the first '{' to the last '}';
two fences are an error (their `clean_json_text`). We also ignore a <think> block and repair near-JSON
(raw newlines in strings, single quotes, trailing commas, Python True/False/None, unescaped inner quotes).
"""

from __future__ import annotations

import json
import re
from typing import Any

_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_FENCE = "```json"


def _split_think(text: str) -> tuple[str | None, str]:
    """(<think> content, rest); an unclosed <think> swallows everything (the answer was cut off)."""
    thinks = _THINK.findall(text)
    body = _THINK.sub("", text)
    if "<think>" in body:
        head, _, tail = body.partition("<think>")
        thinks.append(tail)
        body = head
    body = body.replace("</think>", "")
    think = "\n".join(t.strip() for t in thinks).strip() or None
    return think, body


def _candidate(body: str) -> str:
    """The JSON text the authors would parse; raises ValueError when there is none or it is ambiguous."""
    n_fences = body.count(_FENCE)
    if n_fences > 1:
        raise ValueError(f"{n_fences} ```json blocks; expected exactly one answer")
    if n_fences == 1:
        inner = body.split(_FENCE, 1)[1]
        if "```" not in inner:
            raise ValueError("```json block is not closed (output truncated?)")
        return inner.split("```", 1)[0].strip()
    first, last = body.find("{"), body.rfind("}")
    if body.lstrip().startswith("[") and body.rfind("]") > 0:  # comprehensive without think: a bare list
        return body[body.find("[") : body.rfind("]") + 1]
    if first == -1:
        raise ValueError("no JSON object in the output")
    if last < first:
        raise ValueError("JSON object is not closed (output truncated?)")
    return body[first : last + 1]


def _next_nonspace(s: str, i: int) -> str:
    while i < len(s) and s[i].isspace():
        i += 1
    return s[i] if i < len(s) else ""


def repair_json(s: str) -> str:
    """Rewrite near-JSON as JSON: quote style, raw control characters, inner quotes, trailing commas."""
    out: list[str] = []
    quote: str | None = None
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if quote:
            if ch == "\\" and i + 1 < n:
                nxt = s[i + 1]
                if nxt == "'":
                    out.append("'")
                elif nxt in '"\\/bfnrtu':
                    out.append(ch + nxt)
                else:  # a lone backslash is a literal backslash
                    out.append("\\\\" + nxt)
                i += 2
                continue
            if ch == quote and _next_nonspace(s, i + 1) in {",", "}", "]", ":", ""}:
                out.append('"')
                quote = None
            elif ch == '"' or ch == quote:  # an inner quote the model forgot to escape
                out.append('\\"' if ch == '"' else ch)
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\r":
                out.append("\\r")
            elif ch == "\t":
                out.append("\\t")
            elif ord(ch) < 0x20:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
            i += 1
            continue
        if ch in "\"'":
            quote = ch
            out.append('"')
        elif ch == "," and _next_nonspace(s, i + 1) in {"}", "]"}:
            pass
        else:
            m = re.match(r"(True|False|None)\b", s[i : i + 6]) if ch in "TFN" else None
            if m and (i == 0 or not (s[i - 1].isalnum() or s[i - 1] == "_")):
                out.append({"True": "true", "False": "false", "None": "null"}[m.group(1)])
                i += len(m.group(1))
                continue
            out.append(ch)
        i += 1
    return "".join(out)


def loads_tolerant(text: str) -> Any:
    """json.loads, then the repaired text; a second complete object is an error, not a guess."""
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError:
        pass
    fixed = repair_json(text)
    try:
        return json.loads(fixed)
    except json.JSONDecodeError as e:
        try:
            _, end = json.JSONDecoder().raw_decode(fixed)
        except json.JSONDecodeError:
            raise ValueError(f"invalid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
        if "{" in fixed[end:]:
            raise ValueError("more than one JSON object in the output; expected exactly one answer") from None
        raise ValueError(f"invalid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None


def extract_json(text: Any) -> tuple[Any, str | None]:
    """(decoded answer, <think> text); raises ValueError with a readable reason."""
    if isinstance(text, (dict, list)):  # some raw files store the already-decoded answer
        return text, None
    if not isinstance(text, str):
        raise ValueError(f"model output is {type(text).__name__}, not text")
    if not text.strip():
        raise ValueError("empty output")
    think, body = _split_think(text)
    if not body.strip():
        raise ValueError("no answer after the <think> block (output truncated?)")
    return loads_tolerant(_candidate(body)), think
