"""Small exact statistics for k-of-n outcomes and rank agreement.

Pure NumPy/SciPy-special, shared by the report's experiment sections so every
interval and test in the report has one definition:

- ``wilson_interval(k, n)``: the Wilson score interval of a solve rate k/n;
- ``fisher_exact(k1, n1, k2, n2)``: the two-sided exact test of two rates;
- ``min_fisher_p(n1, n2)``: the smallest p-value those sample sizes can reach,
  so the report can say when the seeds cannot separate two cells at all;
- ``spearman(x, y)``: Spearman's rank correlation with an exact (or Monte
  Carlo) permutation p-value.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.special import ndtri  # the normal quantile; scipy.stats takes a second to import


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a rate of ``k`` successes in ``n`` trials.

    Unlike k/n ± z·se it stays inside [0, 1] and is not empty at k = 0 or k = n:
    wilson_interval(0, 3) is (0, 0.562), wilson_interval(3, 3) is (0.438, 1).
    (NaN, NaN) for n = 0.
    """
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= k <= n:
        raise ValueError(f"k must be in 0..n, got k={k}, n={n}")
    z = float(ndtri(0.5 + confidence / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At k = 0 (k = n) the exact bound is 0 (1); the formula gives it up to rounding.
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def _hypergeom_pmf(x: int, n1: int, n2: int, total_k: int) -> float:
    return math.comb(n1, x) * math.comb(n2, total_k - x) / math.comb(n1 + n2, total_k)


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test that k1/n1 and k2/n2 share one rate.

    The sum of the probabilities of every table with the same margins that is
    no more likely than the one observed (the convention of R's fisher.test
    and scipy.stats.fisher_exact). fisher_exact(3, 3, 0, 3) is 0.1.
    """
    if not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError(f"need 0 <= k <= n, got {k1}/{n1} and {k2}/{n2}")
    total_k = k1 + k2
    lo, hi = max(0, total_k - n2), min(n1, total_k)
    observed = _hypergeom_pmf(k1, n1, n2, total_k)
    p = sum(q for x in range(lo, hi + 1) if (q := _hypergeom_pmf(x, n1, n2, total_k)) <= observed * (1 + 1e-7))
    return min(1.0, p)


def min_fisher_p(n1: int, n2: int) -> float:
    """The smallest two-sided Fisher p-value that n1 against n2 trials can give
    (all solved against none): 0.1 for 3 against 3, so no 3-seed difference is
    significant at 0.05."""
    return fisher_exact(n1, n1, 0, n2)


def _ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), 1-based."""
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v), dtype=float)
    ranks[order] = np.arange(1, len(v) + 1)
    for value in np.unique(v):
        tied = v == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else math.nan


def spearman(x, y, permutations: int = 20000, seed: int = 0) -> tuple[float, float]:
    """Spearman's rank correlation of ``x`` and ``y`` and its two-sided
    permutation p-value (the share of permutations of y whose |rho| is at least
    the observed one).

    Exact over all n! orderings for n <= 8, otherwise over ``permutations``
    random ones (seeded, so a report is reproducible). Pairs with a NaN are
    dropped; fewer than 3 pairs, or a constant side, give (NaN, NaN).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3:
        return math.nan, math.nan
    rx, ry = _ranks(x), _ranks(y)
    rho = _pearson(rx, ry)
    if not math.isfinite(rho):
        return math.nan, math.nan
    if len(x) <= 8:
        samples = [np.asarray(p) for p in itertools.permutations(ry)]
    else:
        rng = np.random.default_rng(seed)
        samples = [rng.permutation(ry) for _ in range(permutations)]
    at_least = sum(abs(_pearson(rx, s)) >= abs(rho) - 1e-12 for s in samples)
    if len(x) <= 8:
        return rho, at_least / len(samples)
    # Random orderings: the observed one counts among them, so p is never 0 (Phipson & Smyth 2010).
    return rho, (at_least + 1) / (len(samples) + 1)
