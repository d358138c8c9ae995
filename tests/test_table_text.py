"""The report's table text: a singular value below float32's resolution reads the same wherever it is shown."""

import math

import pytest

from zoo.report.table_text import _sigma_range


@pytest.mark.parametrize("lo, hi, median, shown", [
    (0.12, 0.9, 0.5, "0.12 – 0.9 (0.5)"),
    # a dead ReLU unit's exact zero, and round-off below 1e-7 σ_max: the minimum and the median alike
    (0.0, 1.3, 0.0, "< 1e-7 σ_max – 1.3 (< 1e-7 σ_max)"),
    (0.0, 1.3, 1.1e-7, "< 1e-7 σ_max – 1.3 (< 1e-7 σ_max)"),
    (0.0, 1.3, 2e-7, "< 1e-7 σ_max – 1.3 (2e-07)"),
    (0.0, 1.3, math.nan, "< 1e-7 σ_max – 1.3"),
    (math.nan, 1.3, 0.5, "–"),
])
def test_a_sigma_below_float32_resolution_reads_alike_as_minimum_and_median(lo, hi, median, shown):
    assert _sigma_range(lo, hi, median) == shown
