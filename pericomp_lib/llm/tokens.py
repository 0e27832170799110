"""The one token count: a tokenizer's when one is given, else one proxy used by every notebook.

01 (record lengths) and 02 (prompt lengths) count with this same function, so a record and the prompt
that wraps it are measured alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# One token per CJK character, word, number or punctuation mark. Real tokenizers split finer (SmolLM2
# splits every digit): real counts run about 1.5x (English) to 2x (Chinese) higher.
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[A-Za-z]+|\d+(?:\.\d+)?|[^\sA-Za-z\d\u3400-\u9fff]")


def count_tokens(text: str, tokenizer: Callable | Any | None = None) -> int:
    """Tokens of `text` alone (no special tokens) with a tokenizer (an object with .encode, or a callable
    returning the tokens), else the proxy."""
    if tokenizer is None:
        return len(_TOKEN.findall(text))
    if hasattr(tokenizer, "encode"):
        try:  # Hugging Face tokenizers would add BOS/EOS, which belong to the chat template, not the text
            return len(tokenizer.encode(text, add_special_tokens=False))
        except TypeError:
            return len(tokenizer.encode(text))
    return len(tokenizer(text))


def token_lengths(prompts: dict[str, Any], tokenizer=None) -> Any:
    """One row per prompt (case_id, complication, tokens) of a prompt file's {case_id: prompt or
    {heading: prompt}}."""
    import pandas as pd

    rows = []
    for case_id, value in prompts.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        rows += [
            {"case_id": case_id, "complication": key, "tokens": count_tokens(text, tokenizer)}
            for key, text in items
            if text is not None
        ]
    return pd.DataFrame(rows, columns=["case_id", "complication", "tokens"])


def length_stats(lengths) -> Any:
    """Quartiles of prompt length, overall and per complication for targeted prompts."""
    import pandas as pd

    overall = lengths["tokens"].describe().to_frame("all").T
    if lengths["complication"].notna().any():
        per = lengths.groupby("complication", sort=False)["tokens"].describe()
        return pd.concat([overall, per])
    return overall
