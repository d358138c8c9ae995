"""Stored runs -> pandas tables: the per-epoch long table and the summary.

Pure functions of ``StoredRun`` objects; the numbers in every report come from
here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo.core.analysis import decay_rate, mean_ci95  # noqa: F401  (mean_ci95 re-exported)
from zoo.core.config import short_name, varying_settings

LOSS_THRESHOLD = 0.01  # "epochs to reach": the first epoch whose training loss is below this
VANISH_FRACTION = 1e-3  # dh_T/dh_t has vanished once it is below this fraction of lag 0


def long_table(runs, kind: str) -> pd.DataFrame:
    """One stored table (``history``, ``gradients``, ``probes``, ``predictions``) of
    every run, stacked, with columns that say which run a row is from: run id,
    cell, mode, seed, status, and the settings that vary between the runs."""
    axes = varying_settings([r.config for r in runs])
    frames = []
    for r in runs:
        t = getattr(r, kind).copy()
        if r.metrics["status"] == "failed" or t.empty:
            continue
        settings = r.config.settings()
        labels = [("run_id", r.path.name), ("cell", r.config.cell), ("mode", r.config.mode)]
        labels += [(short_name(a), settings.get(a)) for a in axes]  # a task's own setting: None for the others
        labels += [("seed", r.config.seed), ("status", r.metrics["status"])]
        for i, (k, v) in enumerate(labels):
            t.insert(i, k, v)
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def epochs_to_threshold(history: pd.DataFrame, threshold: float = LOSS_THRESHOLD) -> float:
    below = history.loc[history.loss < threshold, "epoch"]
    return float(below.iloc[0]) if len(below) else math.nan


def vanish_lag(probe: pd.DataFrame, fraction: float = VANISH_FRACTION) -> tuple[float, bool]:
    """Lag where dh_T/dh_t falls below ``fraction`` of its lag-0 value.

    Returns ``(lag, measured)``. When the window is too short to see it, the lag
    is extrapolated from the fitted decay rate (``measured`` is False), and is
    infinite if the norm does not decay.
    """
    p = probe.dropna(subset=["dhT_dht"]).sort_values("lag")
    if p.empty:
        return math.nan, False
    lags, norms = p.lag.to_numpy(), p.dhT_dht.to_numpy()
    floor = fraction * norms[0]
    below = lags[norms < floor]
    if len(below):
        return float(below[0]), True
    rate = decay_rate(lags, norms)
    if not np.isfinite(rate) or rate >= 0:
        return math.inf, False
    keep = lags >= 1
    intercept = np.mean(np.log(norms[keep]) - rate * lags[keep])
    return float((math.log(floor) - intercept) / rate), False


def _run_numbers(r) -> dict:
    h = r.history
    final_probe = r.probes[r.probes.epoch == r.probes.epoch.max()] if len(r.probes) else r.probes
    lag, measured = vanish_lag(final_probe) if len(final_probe) else (math.nan, False)
    return {
        "loss": r.metrics["loss"],
        "test_mae": r.metrics["test_mae"],
        "test_mse": r.metrics["test_mse"],
        "test_mae_next": r.metrics["test_mae_next"],
        "epochs_to_threshold": epochs_to_threshold(h),
        "seconds": r.metrics["seconds"],
        "grad_norm_final": float(h.grad_norm_mean.iloc[-1]),
        "grad_norm_peak": float(h.grad_norm_max.max()),
        "decay_rate": r.metrics["decay_rate"],
        "vanish_lag": lag,
        "vanish_lag_measured": measured,
    }


def summary_table(runs) -> pd.DataFrame:
    """One row per cell x mode (x sweep value), over seeds; numbers from ok runs only.

    Settings that vary between runs, such as the window of a sweep, become
    columns, so each row compares like with like.
    """
    axes = varying_settings([r.config for r in runs])
    groups: dict[tuple, list] = {}
    for r in runs:
        settings = r.config.settings()
        key = (r.config.cell, r.config.mode, *(settings.get(a) for a in axes))
        groups.setdefault(key, []).append(r)
    rows = []
    for (cell, mode, *values), members in groups.items():
        status = [m.metrics["status"] for m in members]
        ok = [m for m in members if m.metrics["status"] == "ok"]
        numbers = pd.DataFrame([_run_numbers(m) for m in ok])
        stepped = [m for m in members if m.metrics["status"] != "failed"]
        clipped = sum(int(m.history.clipped_steps.sum()) for m in stepped)
        steps = sum(int(m.history.steps.sum()) for m in stepped)
        row = {
            "cell": cell,
            "mode": mode,
            **{short_name(a): v for a, v in zip(axes, values)},
            "seeds": len(members),
            "ok": status.count("ok"),
            "diverged": status.count("diverged"),
            "failed": status.count("failed"),
            "params": next((m.metrics["params"] for m in members if "params" in m.metrics), math.nan),
        }
        for col in ("loss", "test_mae", "test_mse"):
            row[col], row[f"{col}_ci95"] = mean_ci95(numbers[col] if len(numbers) else [])
        averaged = ("test_mae_next", "epochs_to_threshold", "seconds", "grad_norm_final", "grad_norm_peak")
        averaged += ("decay_rate",)
        for col in averaged:
            row[col] = float(numbers[col].mean()) if len(numbers) else math.nan
        row["vanish_lag"] = float(numbers.vanish_lag.mean()) if len(numbers) else math.nan
        row["vanish_lag_measured"] = bool(numbers.vanish_lag_measured.all()) if len(numbers) else False
        row["clipped_fraction"] = clipped / steps if steps else math.nan
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    # Modes in the order the grid lists them (the runs come in grid order).
    order = {m: i for i, m in enumerate(dict.fromkeys(r.config.mode for r in runs))}
    table = pd.DataFrame(rows)
    by = ["mode", *(short_name(a) for a in axes), "cell"]
    return table.sort_values(by, key=lambda s: s.map(order) if s.name == "mode" else s, ignore_index=True)


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


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as strings for people: intervals as mean ± half-width."""
    axes = setting_columns(summary)
    clipping = (summary.clipped_fraction.fillna(0) > 0).any()
    rows = []
    for r in summary.to_dict("records"):
        def pm(col: str) -> str:
            mean, half = r[col], r[f"{col}_ci95"]
            return _fmt(mean) + ("" if math.isnan(half) else f" ± {_fmt(half, 2)}")

        lag = _fmt(r["vanish_lag"], 2)
        if not (r["vanish_lag_measured"] or math.isnan(r["vanish_lag"])):
            lag += " (extrap.)"
        row = {"cell": r["cell"], "mode": r["mode"]}
        row.update({a: _fmt_setting(r[a]) for a in axes})
        row.update({
            "params": "–" if math.isnan(r["params"]) else str(int(r["params"])),
            "train loss": pm("loss"),
            "test MAE": pm("test_mae"),
            "test MSE": pm("test_mse"),
            f"epochs to loss < {LOSS_THRESHOLD}": _fmt(r["epochs_to_threshold"]),
            "s / run": _fmt(r["seconds"]),
            "grad norm final / peak": f"{_fmt(r['grad_norm_final'])} / {_fmt(r['grad_norm_peak'])}",
            "dh decay / step": _fmt(r["decay_rate"]),
            "vanish lag": lag,
        })
        if clipping:
            row["clipped steps"] = f"{r['clipped_fraction']:.1%}"
        row["ok / diverged / failed"] = f"{r['ok']} / {r['diverged']} / {r['failed']}"
        rows.append(row)
    return pd.DataFrame(rows)


def table_note(summary: pd.DataFrame) -> str:
    note = (
        "One seed per row: no interval is given. "
        if (summary.ok <= 1).all()
        else "± is the half-width of the 95% t-interval over seeds. "
    )
    return note + (
        "Numbers are means over the ok runs. dh decay / step is the slope of ln‖dh_T/dh_t‖ "
        "against lag (negative: gradients vanish through time); vanish lag is where that "
        f"norm falls below {VANISH_FRACTION:g} of its lag-0 value."
    )


def summary_markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table with a note on how to read it."""
    if summary.empty:
        return "No finished runs.\n"
    shown = display_table(summary)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines) + "\n\n" + table_note(summary) + "\n"
