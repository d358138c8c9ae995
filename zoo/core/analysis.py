"""Pure numbers from stored results: decay statistics, intervals, probe epochs.

NumPy and SciPy only, so the engine (which computes them for a run's
metrics) and the report (which summarises them) share one definition.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import stdtrit  # Student's t quantile; scipy.stats takes twice as long to import


def probe_epochs(epochs: int, probes: int) -> list[int]:
    """``probes`` epochs spread evenly from the first to the last."""
    return sorted({int(round(e)) for e in np.linspace(1, epochs, max(probes, 1))} | {1, epochs})


def decay_rate(lags: np.ndarray, norms: np.ndarray) -> float:
    """Slope of ln(norm) against lag, over lags >= 1: the per-step decay of dh_T/dh_t.

    Lag 0 is the identity and is left out. Negative means vanishing: the norm
    shrinks by a factor exp(rate) per step back in time.
    """
    keep = (lags >= 1) & np.isfinite(norms) & (norms > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(lags[keep], np.log(norms[keep]), 1)[0])


def mean_ci95(values) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval over ``values`` (one per run).

    NaN half-width for fewer than 2 finite values.
    """
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan
    if len(v) == 1:
        return float(v[0]), math.nan
    half = stdtrit(len(v) - 1, 0.975) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(half)
