"""The report's statistics against known values (R / scipy.stats, worked by hand)."""

import math

import pytest

from zoo.core.stats import fisher_exact, min_fisher_p, spearman, wilson_interval


@pytest.mark.parametrize(
    "k, n, low, high",
    [
        (0, 3, 0.0, 0.56150),  # all: scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
        (3, 3, 0.43851, 1.0),
        (2, 3, 0.20765, 0.93851),
        (1, 3, 0.06149, 0.79235),
        (5, 10, 0.23659, 0.76341),
        (81, 263, 0.25529, 0.36621),  # scipy.stats.binomtest(81, 263).proportion_ci("wilson")
    ],
)
def test_wilson_interval_known_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-5) and hi == pytest.approx(high, abs=1e-5)


def test_wilson_interval_empty_and_bad():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="k must be in 0..n"):
        wilson_interval(4, 3)


@pytest.mark.parametrize(
    "k1, n1, k2, n2, p",
    [
        (3, 3, 0, 3, 0.1),
        (3, 3, 1, 3, 0.4),
        (2, 3, 1, 3, 1.0),
        (5, 5, 0, 5, 2 / 252),
        (3, 4, 1, 4, 0.48571),  # scipy.stats.fisher_exact([[3, 1], [1, 3]])
        (7, 12, 2, 10, 0.09907),  # scipy.stats.fisher_exact([[7, 5], [2, 8]])
    ],
)
def test_fisher_exact_known_values(k1, n1, k2, n2, p):
    assert fisher_exact(k1, n1, k2, n2) == pytest.approx(p, abs=1e-5)
    assert fisher_exact(k2, n2, k1, n1) == pytest.approx(p, abs=1e-5)  # symmetric


def test_three_seeds_can_never_reach_five_percent():
    assert min_fisher_p(3, 3) == pytest.approx(0.1)
    assert min_fisher_p(5, 5) < 0.05


def test_spearman_exact_permutation_p():
    rho, p = spearman([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert rho == pytest.approx(1.0)
    assert p == pytest.approx(2 / 120)  # the identity and the reversal of 5! orderings
    rho, p = spearman([1, 2, 3, 4], [1, 3, 2, 4])
    assert rho == pytest.approx(0.8)
    rho_t, p_t = spearman([1, 2, 2, 3], [1, 2, 3, 4])  # a tie gets the mean rank
    assert rho_t == pytest.approx(0.9486833, abs=1e-6)


def test_spearman_random_permutations_never_give_p_zero():
    """Past 8 pairs p is over random orderings; the observed one counts among them (Phipson & Smyth 2010),
    so a perfect rank correlation of 15 cells gives 1/(N + 1), not 0 (no ordering of 1,000 matched it)."""
    rho, p = spearman(range(15), range(15), permutations=999)
    assert rho == pytest.approx(1.0) and p == pytest.approx(1 / 1000)


def test_spearman_degenerate():
    assert all(math.isnan(v) for v in spearman([1, 2], [3, 4]))
    assert all(math.isnan(v) for v in spearman([1, 1, 1], [1, 2, 3]))
