"""One stored run -> the numbers the summary averages: its loss, test error and
gradient norms, the through-time numbers of a probed epoch (per-step factors,
vanish lag, the one-step Jacobian's spectrum), the recurrent kernels' share of
the gradient, and why a diverged run diverged. Pure functions of a
``StoredRun``; ``zoo.report.tables`` stacks them over runs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo import probes as probe_folders
from zoo.core import analysis
from zoo.report import probes as probe_report

LOSS_THRESHOLD = 0.01  # "epochs to reach": the first epoch whose training loss is below this
VANISH_FRACTION = 1e-3  # dh_T/dh_t has vanished once it is below this fraction of lag 0
SPECTRUM = ("jac_sigma_max", "jac_sigma_min", "jac_sigma_median", "lyapunov_top", "qr_lyapunov_max",
            "lyapunov_sum", "lyapunov_sum_unresolved", "tanh_slope_mean", "tanh_slope_over_0_9")


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
        # A budget in optimizer steps: a history row (an "epoch") every eval_every steps; NaN for epochs.
        "eval_every": float(r.config.train.eval_every) if getattr(r.config.train, "steps", None) else math.nan,
        "seconds": r.metrics["seconds"],
        "state_activation": r.metrics.get("state_activation"),  # None: not known (or stored before it was)
        "grad_norm_final": float(h.grad_norm_mean.iloc[-1]),
        "grad_norm_peak": float(peak.max()),
        "grad_norm_peak_epoch": float(h.epoch[peak.idxmax()]) if peak.notna().any() else math.nan,
        "diverged_epoch": r.metrics.get("diverged_epoch") or math.nan,
        "decay_rate": r.metrics.get("decay_rate", math.nan),
        "recurrent_share": recurrent_share(r),
        "own_recurrent_weights": probe_report.own_recurrent_weights(r),
        "first_epoch": first,
        "last_epoch": last,
        **at_last,
        **{f"{k}_first": at_first[k] for k in ("decay_factor", "lyapunov_top")},
        # The task's own metric over its baseline (a classification task has no MAE).
        "metric": r.metrics.get("metric"),
        "metric_value": r.metrics.get("metric_value", math.nan),
        "ratio": r.metrics.get("ratio", math.nan),
        # Whether the run solved its task (a memory task's ratio below its threshold); NaN where the task has none.
        "solved": float(r.metrics["solved"]) if isinstance(r.metrics.get("solved"), bool) else math.nan,
        "solved_below": r.metrics.get("solved_below", math.nan),  # the task's threshold on the ratio
        # Every registered probe's summary numbers (``zoo.probes``), by the probe's own reducer.
        **{k: v for name in probe_folders.list_probes() for k, v in probe_report.run_summary(r, name).items()},
    }
    # What a diverged run looked like at its last finite probe, before it blew up.
    out["cause_epoch"], out["cause_factor"] = last, at_last["decay_factor"]
    out["cause_growth"], out["cause_lag"] = at_last["dh_at_max_lag"], at_last["max_lag"]
    return out
