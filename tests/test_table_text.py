"""The report's table text: a singular value below float32's resolution reads the same wherever it is shown."""

import math

import pytest

from zoo.report.table_text import _sigma_range


@pytest.mark.parametrize("lo, hi, median, shown", [
    (0.12, 0.9, 0.5, "0.12 – 0.9 (0.5)"),
    # a dead ReLU unit's exact zero, and round-off below 2**-23 = 1.19e-7 σ_max: the minimum and the median alike
    (0.0, 1.3, 0.0, "< 1.2e-7 σ_max – 1.3 (< 1.2e-7 σ_max)"),
    (0.0, 1.3, 1.1e-7, "< 1.2e-7 σ_max – 1.3 (< 1.2e-7 σ_max)"),
    (0.0, 1.3, 1.5e-7, "< 1.2e-7 σ_max – 1.3 (< 1.2e-7 σ_max)"),  # 1.15e-7 σ_max: below 2**-23, not below 1e-7
    (0.0, 1.3, 2e-7, "< 1.2e-7 σ_max – 1.3 (2e-07)"),
    (0.0, 1.3, math.nan, "< 1.2e-7 σ_max – 1.3"),
    (math.nan, 1.3, 0.5, "–"),
])
def test_a_sigma_below_float32_resolution_reads_alike_as_minimum_and_median(lo, hi, median, shown):
    assert _sigma_range(lo, hi, median) == shown


def test_the_note_under_the_table_explains_each_column_a_reader_cannot_decode_alone():
    import pandas as pd

    from zoo.report.run_numbers import LOSS_THRESHOLD
    from zoo.report.table_text import table_note

    note = table_note(pd.DataFrame({"ok": [3], "diverged": [0], "clipped_fraction": [0.0]}))
    assert f"Epochs to loss < {LOSS_THRESHOLD}: the first epoch whose training loss is below it" in note
    assert "– where none did" in note and "Vanish lag:" in note and "s / run:" in note
