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


def test_the_test_metric_over_its_baseline_stands_beside_the_mse_and_is_explained():
    import pandas as pd

    from zoo.report.table_text import display_table, table_note

    row = dict(cell="gru", mode="many_to_one", seeds=1, ok=1, diverged=0, failed=0, params=10, loss=0.1,
               loss_ci95=math.nan, test_mae=0.2, test_mae_ci95=math.nan, test_mse=0.09, test_mse_ci95=math.nan,
               metric="test_mse", metric_value=0.09, metric_value_ci95=math.nan, ratio=0.54, ratio_ci95=math.nan,
               epochs_to_threshold=math.nan, seconds=1.0, grad_norm_final=1.0, grad_norm_peak=2.0,
               decay_factor=0.6, vanish_lag=math.nan, vanish_reached=0, max_lag=5, clipped_fraction=0.0)
    table = display_table(pd.DataFrame([row]))
    columns = list(table.columns)
    assert columns[columns.index("test MSE") + 1] == "/ baseline" and table["/ baseline"].iloc[0] == "0.54"
    assert "/ baseline: the test metric (MSE) over the task's baseline" in table_note(pd.DataFrame([row]))
    without = pd.DataFrame([{**row, "ratio": math.nan}])
    assert "/ baseline" not in display_table(without).columns and "/ baseline" not in table_note(without)
