"""Shared fixtures: where the authors' public files are, and how to run a notebook with papermill."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _pericomp_dir() -> Path:
    env = os.environ.get("PERICOMP_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "pericomp-public"


@pytest.fixture(scope="session")
def pericomp_dir() -> Path:
    """The authors' public files (never copied into this repo); skip when absent."""
    path = _pericomp_dir()
    if not (path / "results").is_dir():
        pytest.skip(f"authors' public files not found at {path}: set PERICOMP_DIR to a PeriComp clone")
    return path


@pytest.fixture
def run_notebook(tmp_path):
    """Execute notebooks/<name> with papermill into tmp_path; returns the executed path."""
    import papermill as pm

    def _run(name: str, **parameters) -> Path:
        out = tmp_path / f"executed_{name}"
        pm.execute_notebook(
            str(NOTEBOOKS / name),
            str(out),
            parameters=parameters,
            cwd=str(NOTEBOOKS),
            kernel_name="python3",
            progress_bar=False,
        )
        return out

    return _run


def lively_llama(tok, seed: int, **config):
    """A tiny random Llama with large weights, so greedy answers vary from token to token (the built-in
    tiny-random repeats one token, which would make equality and schema tests pass trivially)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=config.pop("num_hidden_layers", 2),
        num_attention_heads=4,
        num_key_value_heads=2,
        initializer_range=0.3,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        **config,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg).eval()


def constrained_params(**kw):
    """The tiny-random profile with constrained, brief, record-first targeted answers (decision first unless kw
    says otherwise): what the constrained-decoding tests start from."""
    from pericomp_lib.core.params import load_params

    base = dict(
        constrained=True,
        answer_layout="decision_first",
        question_style="brief",
        think_max_chars=40,
        max_new_tokens=80,
        prompt_layout="shared_prefix",
    )
    return load_params("params/tiny-random.yaml", **{**base, **kw})
