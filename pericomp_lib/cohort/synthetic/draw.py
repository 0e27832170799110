"""Random draws shared by the simulation modules.

Why a module of its own: course, complications, traps and background all draw values the same way, and
the exact sequence of draws is what keeps a seed's cohort byte-identical, so there is one definition.
"""

from __future__ import annotations

import random


def weighted(rng: random.Random, weights: dict) -> object:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def rnd(rng: random.Random, lo: float, hi: float, nd: int = 0) -> float:
    """Uniform in [lo, hi] rounded to nd decimals (an int when nd == 0), as a chart would print it."""
    v = round(rng.uniform(lo, hi), nd)
    return int(v) if nd == 0 else v
