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


# float32's relative resolution, 2^-23: a singular value below this times the
# largest one of a float32 Jacobian is round-off, not a measurement (the report
# shows it as "< 1.2e-7 σ_max"; ``zoo.engine.spectrum`` counts what it adds to a
# Lyapunov sum apart).
FLOAT32_RESOLUTION = 2.0**-23


# The per-step factor of ‖dh_T/dh_t‖ is taken over these lags for every window,
# so that runs of different windows and experiments compare.
DECAY_LAGS = (1, 5)
# A window this long also gets the factor over its last fifth of lags
# (lags 80-100 at window 100), where the early transient is over.
LATE_MIN_WINDOW = 20


def _factor(lags: np.ndarray, norms: np.ndarray, start: int, stop: int) -> float:
    """(norm[stop] / norm[start]) ** (1 / (stop - start)): the geometric mean of the
    per-step factors norm[k] / norm[k-1] for k = start+1 .. stop."""
    lags, norms = np.asarray(lags), np.asarray(norms, dtype=float)
    at = dict(zip(lags.tolist(), norms.tolist()))
    if stop <= start or start not in at or stop not in at:
        return math.nan
    a, b = at[start], at[stop]
    if not (np.isfinite(a) and np.isfinite(b)) or a <= 0 or b < 0:
        return math.nan
    return float((b / a) ** (1.0 / (stop - start)))


def decay_factor(lags: np.ndarray, norms: np.ndarray, first: int = DECAY_LAGS[0], last: int = DECAY_LAGS[1]) -> float:
    """Geometric-mean per-step factor of ‖dh_T/dh_t‖ over lags ``first``..``last``.

    Each step back multiplies the norm by norm[k] / norm[k-1]; over lags 1-5 the
    geometric mean of those five factors is (norm[5] / norm[0]) ** (1/5), lag 0
    being the identity. Below 1 the gradient vanishes through time, above 1 it
    grows. The same lags for every window, so the factor compares across
    windows; a window shorter than ``last`` uses all its lags.
    """
    lags = np.asarray(lags)
    if len(lags) == 0:
        return math.nan
    return _factor(lags, norms, first - 1, min(last, int(lags.max())))


def late_decay_factor(lags: np.ndarray, norms: np.ndarray) -> float:
    """The per-step factor over the last fifth of the lags (80-100 at window 100),
    for windows of at least ``LATE_MIN_WINDOW``; NaN for shorter ones."""
    lags = np.asarray(lags)
    window = int(lags.max()) if len(lags) else 0
    if window < LATE_MIN_WINDOW:
        return math.nan
    return _factor(lags, norms, window - window // 5, window)


def vanish_lag(lags: np.ndarray, norms: np.ndarray, fraction: float) -> float:
    """The first lag whose norm is below ``fraction`` of the lag-0 norm, as measured
    within the window; NaN when it is not reached by the last lag (never extrapolated)."""
    lags, norms = np.asarray(lags), np.asarray(norms, dtype=float)
    order = np.argsort(lags)
    lags, norms = lags[order], norms[order]
    if len(lags) == 0 or lags[0] != 0 or not np.isfinite(norms[0]):
        return math.nan
    below = lags[norms < fraction * norms[0]]
    return float(below[0]) if len(below) else math.nan


def decay_rate(lags: np.ndarray, norms: np.ndarray) -> float:
    """Slope of ln(norm) against lag, over lags >= 1: the report extrapolates past the
    probed lags at e^slope (``zoo.report.answer.extrapolation_factors``), and compares
    cells by ``decay_factor``, whose lags are fixed.

    Lag 0 is the identity and is left out. Negative means vanishing: the norm
    shrinks by a factor exp(rate) per step back in time. Depends on the window:
    a long window's slope is dominated by its late lags.
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


def steps_to_1pct(f: float) -> float:
    """Steps at a per-step factor ``f`` below 1 until 1% of the gradient is left."""
    return math.log(0.01) / math.log(f)


def gate_sets_factor(carry: float, f: float) -> bool:
    """Whether the carry gate's mean accounts for the per-step factor: the two would leave 1% of the
    gradient within a factor of 2 of the same number of steps. They measure different things (the
    mean of one gate against the norm of the Jacobian over the whole carried state), so they can
    disagree: sLSTM's forget gate scales both its c and its normaliser n, and its h is c / n."""
    if not (0 < carry < 1 and 0 < f < 1):
        return abs(carry - f) < 0.02  # at or past 1 the steps do not compare: only nearly equal values agree
    return 0.5 <= steps_to_1pct(carry) / steps_to_1pct(f) <= 2


def percent_text(share: float) -> str:
    """74%, or 0.3% for a share that would round to a 0% the reader takes for none."""
    if share >= 0.01:
        return f"{share:.0%}"
    return f"{share:.1%}" if share >= 0.0005 else "< 0.05%"


def without_own_recurrent_weights(frame) -> list[str]:
    """The cells of ``frame`` (rows with ``cell`` and ``own_recurrent_weights``) whose runs say they
    have no recurrent weights apart from their input's (minGRU, minLSTM; coRNN's one kernel reads
    both): their gradient time profile sums every weight's terms, which is not dL/dW_rec. A cell
    counts as such where any of its runs says so (a run stored before the key says nothing)."""
    if "own_recurrent_weights" not in frame:
        return []
    return sorted(set(frame.cell[frame.own_recurrent_weights == 0]))
