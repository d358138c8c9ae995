"""Stored runs -> pandas tables: the per-epoch long table and the summary.

Pure functions of ``StoredRun`` objects; the numbers in every report come from
here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo import probes as probe_folders
from zoo.core import analysis
from zoo.core.analysis import mean_ci95  # noqa: F401  (re-exported)
from zoo.core.config import short_name, varying_settings
from zoo.report import probes as probe_report

LOSS_THRESHOLD = 0.01  # "epochs to reach": the first epoch whose training loss is below this
VANISH_FRACTION = 1e-3  # dh_T/dh_t has vanished once it is below this fraction of lag 0
SPECTRUM = ("jac_sigma_max", "jac_sigma_min", "jac_sigma_median", "lyapunov_top", "qr_lyapunov_max",
            "lyapunov_sum", "lyapunov_sum_unresolved", "tanh_slope_mean", "tanh_slope_over_0_9")


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
        # A setting named as one of the table's own columns (train.loss beside the history's
        # loss) keeps its full name, so neither overwrites the other.
        labels += [(short_name(a) if short_name(a) not in t.columns else a, settings.get(a)) for a in axes]
        labels += [("seed", r.config.seed), ("status", r.metrics["status"])]
        for i, (k, v) in enumerate(labels):
            t.insert(i, k, v)
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def epochs_to_threshold(history: pd.DataFrame, threshold: float = LOSS_THRESHOLD) -> float:
    below = history.loc[history.loss < threshold, "epoch"]
    return float(below.iloc[0]) if len(below) else math.nan


def vanish_lag(probe: pd.DataFrame, fraction: float = VANISH_FRACTION) -> tuple[float, int]:
    """Lag where ‖dh_T/dh_t‖ falls below ``fraction`` of its lag-0 value, and the
    last lag measured. The lag is NaN when the norm stays above that within the
    window: never extrapolated."""
    p = probe.dropna(subset=["dhT_dht"])
    if p.empty:
        return math.nan, 0
    return analysis.vanish_lag(p.lag.to_numpy(), p.dhT_dht.to_numpy(), fraction), int(p.lag.max())


def through_time(probe: pd.DataFrame) -> dict:
    """The through-time numbers of one probed epoch's rows: per-step factors,
    vanish lag, and the one-step Jacobian's spectrum (NaN where not measured)."""
    p = probe.dropna(subset=["dhT_dht"]).sort_values("lag")
    lags, norms = p.lag.to_numpy(), p.dhT_dht.to_numpy()
    lag, max_lag = vanish_lag(p)
    out = {
        "decay_factor": analysis.decay_factor(lags, norms) if len(p) else math.nan,
        "decay_factor_late": analysis.late_decay_factor(lags, norms) if len(p) else math.nan,
        "vanish_lag": lag,
        "max_lag": max_lag,
        "dh_at_max_lag": float(norms[-1] / norms[0]) if len(p) else math.nan,  # ‖dh_T/dh_{T-w}‖ / ‖I‖
    }
    for col in SPECTRUM:
        out[col] = float(p[col].iloc[0]) if col in p.columns and len(p) else math.nan
    return out


def _finite_probe_epochs(probes: pd.DataFrame) -> list[int]:
    """Probed epochs whose through-time norms are all finite (a diverged run's last is not)."""
    if probes.empty or "dhT_dht" not in probes.columns:
        return []
    # All lags finite: a model with no state through time has none (all empty), and a
    # diverged run's last probe has a finite lag 0 (the identity) above NaN lags.
    ok = probes.groupby("epoch").dhT_dht.apply(lambda v: bool(np.all(np.isfinite(v))))
    return sorted(int(e) for e, good in ok.items() if good)


def recurrent_share(r) -> float:
    """The recurrent kernels' share of the gradient norm: per epoch, the norm of the
    recurrent-kernel gradients over the global norm (epoch means), averaged over
    the epochs. 0 where no gradient flows through time (one step from a zero state)."""
    g, h = r.gradients, r.history
    if g.empty or h.empty:
        return math.nan
    rec = g[g.group.str.endswith("recurrent_kernel")]
    if rec.empty:
        return math.nan
    rec_norm = np.sqrt((rec.norm_mean**2).groupby(rec.epoch).sum())
    total = h.set_index("epoch").grad_norm_mean.reindex(rec_norm.index)
    share = (rec_norm / total).replace([np.inf, -np.inf], np.nan).dropna()
    return float(share.mean()) if len(share) else math.nan


def divergence_cause(numbers: dict) -> tuple[str, str]:
    """Why a diverged run diverged, from its numbers: ``("through time", reason)``
    when ‖dh_T/dh_t‖ grew with lag at its last finite probe (so the recurrence
    amplified the gradient), else ``("step size", reason)``: no path through
    time, or one along which the gradient did not grow."""
    factor, epoch = numbers.get("cause_factor", math.nan), numbers.get("cause_epoch")
    when = "at initialisation" if epoch == 0 else f"at epoch {epoch}"
    if not np.isfinite(factor):
        return "step size", "no state is carried through time in this mode, so nothing amplifies the gradient with lag"
    growth = f"‖dh_T/dh_t‖ {'grew' if factor > 1 else 'shrank'} ×{factor:.3g} per step back (lags 1-5) {when}"
    if numbers.get("cause_growth", math.nan) > 1:
        growth += f", ×{numbers['cause_growth']:.3g} in all over {numbers['cause_lag']} steps"
    if factor > 1:
        return "through time", growth + ": the recurrence amplified the gradient"
    return "step size", growth + ": it shrank through time, so the recurrence did not amplify it"


def run_numbers(r) -> dict:
    """Every number the summary averages, for one stored run that did not fail."""
    h = r.history
    status = r.metrics["status"]
    epochs = _finite_probe_epochs(r.probes)
    first, last = (epochs[0], epochs[-1]) if epochs else (None, None)
    at_last = through_time(r.probes[r.probes.epoch == last]) if last is not None else through_time(r.probes[:0])
    at_first = through_time(r.probes[r.probes.epoch == first]) if first is not None else through_time(r.probes[:0])
    peak = h.grad_norm_max
    out = {
        "status": status,
        "loss": r.metrics["loss"],
        "test_mae": r.metrics["test_mae"],
        "test_mse": r.metrics["test_mse"],
        "test_mae_next": r.metrics["test_mae_next"],
        "epochs_to_threshold": epochs_to_threshold(h),
        "seconds": r.metrics["seconds"],
        "grad_norm_final": float(h.grad_norm_mean.iloc[-1]),
        "grad_norm_peak": float(peak.max()),
        "grad_norm_peak_epoch": float(h.epoch[peak.idxmax()]) if peak.notna().any() else math.nan,
        "diverged_epoch": r.metrics.get("diverged_epoch") or math.nan,
        "decay_rate": r.metrics.get("decay_rate", math.nan),
        "recurrent_share": recurrent_share(r),
        "first_epoch": first,
        "last_epoch": last,
        **at_last,
        **{f"{k}_first": at_first[k] for k in ("decay_factor", "lyapunov_top")},
        # The task's own metric over its baseline (a classification task has no MAE).
        "metric": r.metrics.get("metric"),
        "metric_value": r.metrics.get("metric_value", math.nan),
        "ratio": r.metrics.get("ratio", math.nan),
        # Every registered probe's summary numbers (``zoo.probes``), by the probe's own reducer.
        **{k: v for name in probe_folders.list_probes() for k, v in probe_report.run_summary(r, name).items()},
    }
    # What a diverged run looked like at its last finite probe, before it blew up.
    out["cause_epoch"], out["cause_factor"] = last, at_last["decay_factor"]
    out["cause_growth"], out["cause_lag"] = at_last["dh_at_max_lag"], at_last["max_lag"]
    return out


def diverged_table(runs) -> pd.DataFrame:
    """A row per diverged run: when, its peak gradient norm, and why (``divergence_cause``)."""
    axes = varying_settings([r.config for r in runs])
    rows = []
    for r in runs:
        if r.metrics["status"] != "diverged":
            continue
        n = run_numbers(r)
        cause, reason = divergence_cause(n)
        settings = r.config.settings()
        rows.append({
            "run_id": r.path.name, "cell": r.config.cell, "mode": r.config.mode,
            **{short_name(a): settings.get(a) for a in axes}, "seed": r.config.seed,
            "diverged_epoch": n["diverged_epoch"], "diverged_in": r.metrics.get("diverged_in"),
            "peak_grad_norm": n["grad_norm_peak"], "peak_epoch": n["grad_norm_peak_epoch"],
            "recurrent_share": n["recurrent_share"], "probe_epoch": n["cause_epoch"],
            "dh_factor": n["cause_factor"], "dh_growth": n["cause_growth"], "lyapunov_top": n["lyapunov_top"],
            "cause": cause, "reason": reason,
        })
    return pd.DataFrame(rows)


def summary_table(runs) -> pd.DataFrame:
    """One row per cell x mode (x sweep value), over seeds; numbers from ok runs only,
    except the ``*_first`` ones (the first probe, before training went anywhere) and
    the ``diverged_*`` ones, which come from every run that trained.

    Settings that vary between runs, such as the window of a sweep, become
    columns, so each row compares like with like. A run is one member of one
    group, however many arms of the grid resolved to it.
    """
    axes = varying_settings([r.config for r in runs])
    groups: dict[tuple, dict] = {}
    for r in runs:
        settings = r.config.settings()
        key = (r.config.cell, r.config.mode, *(settings.get(a) for a in axes))
        groups.setdefault(key, {})[r.path.name] = r  # by run id: a run counts once
    rows = []
    for (cell, mode, *values), by_id in groups.items():
        members = list(by_id.values())
        status = [m.metrics["status"] for m in members]
        stepped = [m for m in members if m.metrics["status"] != "failed"]
        numbers = pd.DataFrame([run_numbers(m) for m in stepped])
        ok = numbers[numbers.status == "ok"] if len(numbers) else numbers
        bad = numbers[numbers.status == "diverged"] if len(numbers) else numbers
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
        for col in ("loss", "test_mae", "test_mse", "metric_value", "ratio"):
            row[col], row[f"{col}_ci95"] = mean_ci95(ok[col] if len(ok) and col in ok else [])
        metrics = [m for m in (numbers.metric if "metric" in numbers else []) if isinstance(m, str)]
        row["metric"] = metrics[0] if metrics else math.nan
        averaged = ("test_mae_next", "epochs_to_threshold", "seconds", "grad_norm_final", "grad_norm_peak",
                    "decay_rate", "decay_factor", "decay_factor_late", "lyapunov_top", "recurrent_share")
        for col in averaged:
            row[col] = _mean(ok, col)
        # Each registered probe's summary columns, combined over the runs as the probe declares.
        for name in probe_folders.list_probes():
            spec = probe_folders.get_probe(name)
            row.update({c: probe_report.combine(spec, c, ok, numbers) for c in spec.summary})
        # Before training went anywhere: every run that trained, diverged ones too.
        for col in ("decay_factor_first", "lyapunov_top_first"):
            row[col] = _mean(numbers, col)
        row["first_epoch"] = _extreme(numbers, "first_epoch", min)
        row["last_epoch"] = _extreme(ok, "last_epoch", max)
        reached = ok.vanish_lag.dropna() if len(ok) else pd.Series(dtype=float)
        row["vanish_lag"] = float(reached.mean()) if len(reached) else math.nan
        row["vanish_reached"] = len(reached)
        row["max_lag"] = _extreme(ok, "max_lag", max)
        row["clipped_fraction"] = clipped / steps if steps else math.nan
        # A diverged run's largest gradient norm (over its finite steps) and when.
        if len(bad):
            worst = bad.loc[bad.grad_norm_peak.fillna(-1).idxmax()]
            row["diverged_epoch"] = float(bad.diverged_epoch.min())
            row["diverged_peak_norm"], row["diverged_peak_epoch"] = worst.grad_norm_peak, worst.grad_norm_peak_epoch
        else:
            row["diverged_epoch"] = row["diverged_peak_norm"] = row["diverged_peak_epoch"] = math.nan
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    # Modes in the order the grid lists them (the runs come in grid order).
    order = {m: i for i, m in enumerate(dict.fromkeys(r.config.mode for r in runs))}
    table = pd.DataFrame(rows)
    by = ["mode", *(short_name(a) for a in axes), "cell"]
    return table.sort_values(by, key=lambda s: s.map(order) if s.name == "mode" else s, ignore_index=True)


def _mean(frame: pd.DataFrame, col: str) -> float:
    if not len(frame) or col not in frame.columns:
        return math.nan
    v = pd.to_numeric(frame[col], errors="coerce").dropna()
    return float(v.mean()) if len(v) else math.nan


def _extreme(frame: pd.DataFrame, col: str, pick) -> float:
    if not len(frame) or col not in frame.columns:
        return math.nan
    v = pd.to_numeric(frame[col], errors="coerce").dropna()
    return float(pick(v)) if len(v) else math.nan


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


def sigma_min_text(lo: float, hi: float) -> str:
    """σ_min, or "< 1e-7 σ_max" where it is below float32's resolution relative to σ_max
    (round-off of a float32 Jacobian, not a measurement)."""
    if lo < analysis.FLOAT32_RESOLUTION * hi:
        return f"< {analysis.FLOAT32_RESOLUTION:.0e} σ_max".replace("e-07", "e-7")
    return f"{lo:.2g}"


def _sigma_range(lo: float, hi: float, median: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "–"
    return f"{sigma_min_text(lo, hi)} – {hi:.3g}" + (f" ({median:.3g})" if np.isfinite(median) else "")


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


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as strings for people: intervals as mean ± half-width."""
    axes = setting_columns(summary)
    clipping = (summary.clipped_fraction.fillna(0) > 0).any()
    diverged = (summary.diverged > 0).any()
    late = "decay_factor_late" in summary.columns and summary.decay_factor_late.notna().any()
    # A task whose metric is neither MAE nor MSE (classification: cross-entropy) shows its own.
    own_metric = "metric" in summary.columns and summary.metric.isin(["test_ce"]).any()
    regression = summary.test_mae.notna().any() or not own_metric
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
            f"epochs to loss < {LOSS_THRESHOLD}": _fmt(r["epochs_to_threshold"]),
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
        "the probe batch, steps and seeds, and their median; a σ_min below float32's resolution relative to "
        "σ_max is round-off, shown as < 1e-7 σ_max. Top Lyapunov exponent: the finite-time exponent of the "
        "most expanding direction over the whole sequence of T steps, (1/T) log σ1(J_T ⋯ J_1), mean over the "
        "probe sequences; e^λ is its per-step factor (summary.csv also has qr_lyapunov_max, the QR method's "
        "top column with the first fifth of the steps discarded, a different number over a short window, and "
        "lyapunov_sum with its part below float32 resolution, lyapunov_sum_unresolved). "
        "Vanish lag: the first lag where the norm is below "
        f"{VANISH_FRACTION:g} of its lag-0 value, as measured within the window."
    )
    if (summary.diverged > 0).any():
        note += (
            " A diverged run's peak norm is the largest gradient norm of its finite steps, and the epoch of "
            "that step."
        )
    if (summary.clipped_fraction.fillna(0) > 0).any() or (summary.diverged > 0).any():
        note += " Recurrent kernel share: the recurrent kernels' gradient norm over the global norm, epoch means."
    return note


def summary_markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table with a note on how to read it."""
    if summary.empty:
        return "No finished runs.\n"
    shown = display_table(summary)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join(lines) + "\n\n" + table_note(summary) + "\n"
