"""The summary as text for people: number formats, the display table (intervals
as mean ± half-width), the note on how to read it, and the Markdown table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo.core import analysis
from zoo.report.run_numbers import LOSS_THRESHOLD, VANISH_FRACTION


def _fmt(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return f"{x:.{digits}g}"


def _fmt_setting(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def setting_columns(summary: pd.DataFrame) -> list[str]:
    """The sweep columns of a summary: those between ``mode`` and ``seeds``."""
    cols = list(summary.columns)
    return cols[2 : cols.index("seeds")]


def metric_label(metric) -> str:
    """test_ce -> "cross-entropy", test_mae -> "MAE"."""
    if not isinstance(metric, str):
        return "–"
    name = metric.removeprefix("test_")
    return "cross-entropy" if name == "ce" else name.upper()


def factor_text(x: float) -> str:
    """A per-step factor as people read it: ×0.63."""
    return "–" if x is None or not np.isfinite(x) else f"×{x:.3g}"


def sigma_min_text(lo: float, hi: float, digits: int = 2) -> str:
    """A singular value below σ_max, or "< 1.2e-7 σ_max" where it is below float32's resolution
    relative to σ_max: round-off of a float32 Jacobian, or an exact zero (a dead ReLU unit),
    either way not a value a float32 Jacobian can measure."""
    if lo < analysis.FLOAT32_RESOLUTION * hi:
        return f"< {analysis.FLOAT32_RESOLUTION:.1e} σ_max".replace("e-07", "e-7")  # 2**-23 = 1.19e-7
    return f"{lo:.{digits}g}"


def _sigma_range(lo: float, hi: float, median: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "–"
    shown = f"{sigma_min_text(lo, hi)} – {hi:.3g}"
    return shown + (f" ({sigma_min_text(median, hi, 3)})" if np.isfinite(median) else "")  # the median alike


def vanish_text(r: dict) -> str:
    """The measured vanish lag, or "not reached by lag w" (never an extrapolation)."""
    max_lag = r.get("max_lag", math.nan)
    if not np.isfinite(max_lag) or max_lag == 0:
        return "–"
    reached, ok = int(r.get("vanish_reached", 0)), int(r.get("ok", 0))
    if reached == 0:
        return f"not reached by lag {int(max_lag)}"
    text = _fmt(r["vanish_lag"], 3)
    if reached < ok:
        text += f" ({reached} of {ok} runs; not reached by lag {int(max_lag)} in the others)"
    return text


def _solved_text(r: dict) -> str:
    """k/n: the seeds that solved the row's task, of those that trained; – where it judges none."""
    judged = int(r.get("judged", 0) or 0)
    return f"{int(r['solved'])}/{judged}" if judged and np.isfinite(r.get("solved", math.nan)) else "–"


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as strings for people: intervals as mean ± half-width."""
    axes = setting_columns(summary)
    clipping = (summary.clipped_fraction.fillna(0) > 0).any()
    diverged = (summary.diverged > 0).any()
    late = "decay_factor_late" in summary.columns and summary.decay_factor_late.notna().any()
    # A task whose metric is neither MAE nor MSE (classification: cross-entropy) shows its own.
    own_metric = "metric" in summary.columns and summary.metric.isin(["test_ce"]).any()
    regression = summary.test_mae.notna().any() or not own_metric
    # The test metric over the task's baseline (summary.csv's ratio, what the answer calls "barely learned"):
    # beside the MSE it divides, where the runs stored one.
    over_baseline = not own_metric and "ratio" in summary.columns and summary.ratio.notna().any()
    solved = "solved" in summary.columns and summary.solved.notna().any()
    in_steps = _in_steps(summary)
    rows = []
    for r in summary.to_dict("records"):
        def pm(col: str) -> str:
            mean, half = r[col], r[f"{col}_ci95"]
            return _fmt(mean) + ("" if math.isnan(half) else f" ± {_fmt(half, 2)}")

        row = {"cell": r["cell"], "mode": r["mode"]}
        row.update({a: _fmt_setting(r[a]) for a in axes})
        row.update({
            "params": "–" if math.isnan(r["params"]) else str(int(r["params"])),
            "train loss": pm("loss"),
            **({f"test {metric_label(r['metric'])}": pm("metric_value"), "/ baseline": pm("ratio")}
               if own_metric else {}),
            **({"test MAE": pm("test_mae"), "test MSE": pm("test_mse")} if regression else {}),
            **({"/ baseline": pm("ratio")} if over_baseline else {}),
            **({"solved": _solved_text(r)} if solved else {}),
            **({f"steps to loss < {LOSS_THRESHOLD}": _fmt(r["epochs_to_threshold"] * r["eval_every"])}
               if in_steps else {f"epochs to loss < {LOSS_THRESHOLD}": _fmt(r["epochs_to_threshold"])}),
            "s / run": _fmt(r["seconds"]),
            "grad norm final / peak": f"{_fmt(r['grad_norm_final'])} / {_fmt(r['grad_norm_peak'])}",
            "‖dh_T/dh_t‖ per step, lags 1-5": factor_text(r.get("decay_factor")),
        })
        if late:
            row["per step, last fifth of lags"] = factor_text(r.get("decay_factor_late"))
        row.update({
            "Jacobian σ min–max (median)": _sigma_range(r.get("jac_sigma_min", math.nan),
                                                       r.get("jac_sigma_max", math.nan),
                                                       r.get("jac_sigma_median", math.nan)),
            "top Lyapunov exp.": _fmt(r.get("lyapunov_top", math.nan), 2),
            "vanish lag": vanish_text(r),
        })
        if clipping or diverged:
            share = r.get("recurrent_share", math.nan)
            row["recurrent kernel share"] = "–" if not np.isfinite(share) else f"{share:.0%}"
        if clipping:
            row["clipped steps"] = f"{r['clipped_fraction']:.1%}"
        if diverged:
            row["diverged: epoch, peak norm @ epoch"] = (
                "–" if not r["diverged"] else
                f"{_fmt(r['diverged_epoch'])}, {_fmt(r['diverged_peak_norm'])} @ {_fmt(r['diverged_peak_epoch'])}"
            )
        row["ok / diverged / failed"] = f"{r['ok']} / {r['diverged']} / {r['failed']}"
        rows.append(row)
    return pd.DataFrame(rows)


def _in_steps(summary: pd.DataFrame) -> bool:
    """Whether every row trained for a number of optimizer steps (``train.steps``), a history row every
    ``eval_every`` of them: then the table counts steps, not those rows ("epochs")."""
    return "eval_every" in summary.columns and bool(len(summary)) and bool(summary.eval_every.notna().all())


def _metrics(summary: pd.DataFrame) -> str:
    """The test metrics a summary's ratios divide: "MSE", or "MSE, cross-entropy" where tasks differ."""
    names = [metric_label(m) for m in dict.fromkeys(summary.get("metric", pd.Series(dtype=object)).dropna())]
    return ", ".join(names) or "the task's own"


def _thresholds(summary: pd.DataFrame) -> str:
    """The solved thresholds of a summary's rows: "0.01", or "0.05 to 0.1" where its tasks differ."""
    below = pd.to_numeric(summary.get("solved_below", pd.Series(dtype=float)), errors="coerce").dropna()
    if not len(below):
        return "as the task sets it"
    low, high = below.min(), below.max()
    return f"{low:g}" if low == high else f"{low:g} to {high:g}, by task"


def table_note(summary: pd.DataFrame) -> str:
    note = (
        "One seed per row: no interval is given. "
        if (summary.ok <= 1).all()
        else "± is the half-width of the 95% t-interval over seeds. "
    )
    note += (
        "Numbers are means over the ok runs, at the last probed epoch. ‖dh_T/dh_t‖ per step is the geometric "
        "mean of the factor each step back multiplies the through-time Jacobian's norm by, over lags 1-5 "
        "for every window (below 1: the gradient vanishes through time; above 1: it grows)"
    )
    if "decay_factor_late" in summary.columns and summary.decay_factor_late.notna().any():
        note += "; for windows of 20 or more also over the last fifth of the lags"
    note += (
        ". Jacobian σ: the smallest and largest singular value of the one-step Jacobians dh_{t+1}/dh_t over "
        "the probe batch, steps and seeds, and their median; a σ below float32's resolution relative to "
        "σ_max, round-off or an exact zero (a dead ReLU unit), is shown as < 1.2e-7 σ_max. "
        "Top Lyapunov exponent: the finite-time exponent of the "
        "most expanding direction over the whole sequence of T steps, (1/T) log σ1(J_T ⋯ J_1), mean over the "
        "probe sequences; e^λ is its per-step factor (summary.csv also has qr_lyapunov_max, the QR method's "
        "top column with the first fifth of the steps discarded, a different number over a short window, and "
        "lyapunov_sum with its part below float32 resolution, lyapunov_sum_unresolved). "
        + (f"/ baseline: the test metric ({_metrics(summary)}) over the task's baseline, the best score of a model "
           "that ignores what the task asks it to use (for sine, the best constant); below 1 it beats that. "
           if "ratio" in summary.columns and summary.ratio.notna().any() else "")
        + (f"Solved: k/n, the seeds whose run solved the task, of the n that trained (a diverged one solved "
           f"nothing): its / baseline below the task's own threshold ({_thresholds(summary)}; each run's "
           "metrics.json gives why, solved_reason). "
           if "solved" in summary.columns and summary.solved.notna().any() else "")
        + (f"Steps to loss < {LOSS_THRESHOLD}: the optimizer steps to the first evaluation (one every eval_every "
           "steps) whose training loss is below it" if _in_steps(summary) else
           f"Epochs to loss < {LOSS_THRESHOLD}: the first epoch whose training loss is below it")
        + ", mean over the ok runs that reached it; – where none did. "
        "Vanish lag: the first lag where the norm is below "
        f"{VANISH_FRACTION:g} of its lag-0 value, as measured within the window. s / run: the run's wall "
        "time, compiling and probes included, so a cell whose programs were already in the compile cache "
        "takes less; history.csv's train_seconds after the first epoch is the training alone."
    )
    if (summary.diverged > 0).any():
        note += (
            " A diverged run's peak norm is the largest gradient norm of its finite steps, and the epoch of "
            "that step."
        )
    if (summary.clipped_fraction.fillna(0) > 0).any() or (summary.diverged > 0).any():
        note += (" Recurrent kernel share: the gradient norm of the recurrent kernels (and of the weights a cell "
                 "declares its recurrence runs through) over the global norm, epoch means.")
    return note


def summary_markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table with a note on how to read it."""
    if summary.empty:
        return "No finished runs.\n"
    shown = display_table(summary)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines) + "\n\n" + table_note(summary) + "\n"
