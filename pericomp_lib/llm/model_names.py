"""Model sizes and display names read from model names, file names and size labels.

Why one module: the published result files (qwen3_14B_targeted_sft_3.json, qwq32B_...), the authors' train
logs (qwen14B_train_log.jsonl), our runs' model ids (Qwen/Qwen3-4B, smollm2-135m) and the figures' size
order all need the same answer to "which size is this?"; one pattern keeps them from drifting.
"""

from __future__ import annotations

import re
from pathlib import Path

# '4B', '0.5B', '135m': a number and a unit (billions or millions of parameters), not inside a longer
# number or word ('qwen3', 'Qwen2.5', '4Bit'); thousands ('8k') are context lengths, not model sizes
_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)([bBmM])(?![a-zA-Z])")
_UNITS = {"m": 1e6, "b": 1e9}
_FAMILIES = {"qwen3": "Qwen3", "qwq": "QwQ", "qwen2.5": "Qwen2.5", "smollm2": "SmolLM2", "llama": "Llama"}


def find_size(text: str) -> re.Match | None:
    """The first size in text ('Qwen3-4B' -> match of '4B'); group 1 the number, group 2 the unit."""
    return _SIZE.search(str(text))


def parse_size(text: str) -> str | None:
    """The size label of text, upper-case ('qwen14B_train_log' -> '14B', 'smollm2-135m' -> '135M'), or None."""
    m = find_size(text)
    return f"{m[1]}{m[2].upper()}" if m else None


def size_key(size: str) -> float:
    """Order model sizes numerically: '135M' < '4B' < '14B'; unknown labels sort last, by name."""
    m = _SIZE.fullmatch(str(size))
    if not m:
        return float("inf")
    return float(m[1]) * _UNITS[m[2].lower()]


def model_label(name_or_path: str) -> tuple[str, str]:
    """'Qwen/Qwen3-4B' -> ('Qwen3 4B', '4B'); 'smollm2-135m' -> ('SmolLM2 135M', '135M'); no size -> (name, '')."""
    name = Path(str(name_or_path).rstrip("/")).name
    m = find_size(name)
    if not m:
        return name, ""
    size = f"{m[1]}{m[2].upper()}"
    family = name[: m.start()].strip("-_ ") or name
    family = _FAMILIES.get(family.lower(), family)
    return f"{family} {size}", size
