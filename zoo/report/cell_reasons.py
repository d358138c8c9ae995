"""Why each cell's gradient through time decays as it does: a paragraph per cell, in words
computed from its summary row (its carry gate, or its one-step Jacobian's spectrum and tanh
slope; the Lyapunov exponents; and what training changed). ``findings`` lists them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo.core.analysis import gate_sets_factor
from zoo.core.analysis import steps_to_1pct as _steps_to_1pct
from zoo.report.table_text import factor_text, sigma_min_text


def probe_when(epoch) -> str:
    """A probed epoch in words: "initialisation" (epoch 0), "epoch 5", or "the first probe" where unknown."""
    if epoch is None or not np.isfinite(epoch):
        return "the first probe"
    return "initialisation" if epoch == 0 else f"epoch {int(epoch)}"


SIGMOID_1 = 1 / (1 + math.exp(-1))  # a gate whose bias is 1 and whose other inputs are small


def _num(r: pd.Series, col: str) -> float:
    try:
        return float(r.get(col, math.nan))
    except (TypeError, ValueError):
        return math.nan


def _steps_apart(carry: float, f: float) -> str:
    """How far apart a gate's mean and the factor are, in steps until 1% of the gradient is left."""
    if not (0 < carry < 1 and 0 < f < 1):
        return ""
    return (f", which would leave 1% of the gradient after about {_steps_to_1pct(carry):.0f} steps against "
            f"about {_steps_to_1pct(f):.0f} at {factor_text(f)}")


def _gate_reason(r: pd.Series, f: float) -> str:
    carry, first, hi, lo = _num(r, "carry"), _num(r, "carry_first"), _num(r, "jac_sigma_max"), _num(r, "jac_sigma_min")
    gate = (r.get("carry_gate") if isinstance(r.get("carry_gate"), str) else "") or "carry"
    if gate_sets_factor(carry, f):
        text = f"set by its {gate} gate, which keeps {carry:.2f} of the state per step"
    else:  # say what each number is rather than tie the factor to a gate that does not set it
        text = (f"the norm of the Jacobian over its whole carried state, not set by its {gate} gate: that gate's "
                f"mean activation is {carry:.2f}" + _steps_apart(carry, f))
    if np.isfinite(first) and abs(first - SIGMOID_1) < 0.02:
        text += f" ({first:.3f} at {probe_when(r.get('first_epoch'))}: σ(1), a gate bias of 1)"
    if np.isfinite(hi):
        text += f"; one-step Jacobian σ {sigma_min_text(lo, hi)}–{hi:.3g}" + (
            " (all below 1)" if float(f"{hi:.3g}") < 1 else "")
    return text + "."


def _spectrum_reason(r: pd.Series) -> str:
    lo, hi, med = _num(r, "jac_sigma_min"), _num(r, "jac_sigma_max"), _num(r, "jac_sigma_median")
    median = sigma_min_text(med, hi, 3)  # below float32 resolution it reads as the minimum does
    text = (f"no gate: the one-step Jacobian's σ median {median}, range {sigma_min_text(lo, hi)}–{hi:.3g}"
            + _stretch(lo, hi))
    return text + _tanh_slope(r) + "."


def _stretch(lo: float, hi: float) -> str:
    """What a one-step Jacobian's σ range says about the directions of the state, judged on the
    numbers as printed (σ_max to 3 digits, σ_min to 2), so "0.95–1" is never called all below 1."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return ""
    if float(f"{hi:.3g}") < 1:
        return " (all below 1: every direction shrinks)"
    if float(f"{lo:.2g}") > 1:
        return " (all above 1: every direction stretches)"
    return " (some directions stretch, others shrink; the norm averages them)"


def _tanh_slope(r: pd.Series) -> str:
    """The tanh slope clause, only for a cell whose state h is a tanh output: the probe stores the mean
    of 1 - h² for every cell, which is tanh' only there (a ReLU or linear state has no tanh, and
    cells like coRNN carry a state that is not the tanh's output). The runs record the state's
    activation as ``state_activation``; where they do not, nothing is said."""
    slope = _num(r, "tanh_slope_mean")
    if r.get("state_activation") != "tanh" or not 0 <= slope <= 1:
        return ""
    regime = "almost linear" if slope > 0.9 else ("partly saturated" if slope > 0.5 else "saturated")
    return f"; tanh' averages {slope:.2f} ({regime})"


def _lyapunov_sum(r: pd.Series, said: dict | None = None) -> str:
    """The Lyapunov sum and its part below float32 resolution, said for what it is: exact zeros of the
    one-step Jacobian (where the true sum is -inf and the 1e-30 clamp stands in) or round-off of tiny but
    non-zero values; and where σ_min is exactly 0, what that can come from, claiming no more. ``said``
    (shared by one listing of cells): where an earlier cell's paragraph explained the exact zero, this
    one points there instead of saying it again."""
    total, unresolved = _num(r, "lyapunov_sum"), _num(r, "lyapunov_sum_unresolved")
    exact = _num(r, "jac_sigma_min") == 0
    text = ""
    if np.isfinite(unresolved) and unresolved < 0 and np.isfinite(total):
        text = f"Lyapunov sum {total:.4g} per step, {unresolved:.4g} of it from directions below float32 resolution"
        if not exact:
            return text + " (tiny but not zero: float32 round-off), not a measured rate."
        text += ", not a measured rate. "
    if exact and said is not None and "exact_zero" in said:
        return text + f"σ_min is exactly 0, as in {said['exact_zero']} (see there)."
    if exact:
        if said is not None and text:  # the clamp's caveat below is said in full: later cells point here
            said["exact_zero"] = r.cell
        text += ("σ_min is exactly 0: each step drops some direction of the state outright (a unit whose slope is "
                 "exactly 0, as a ReLU's with a negative input, or a part of the state the step does not read)"
                 + ("; for those the true sum is −∞ and the 1e-30 clamp stands in, and only values tiny but not "
                    "zero would be round-off." if text else "."))
    return text


def _training_reason(r: pd.Series, f: float) -> str:
    first = _num(r, "decay_factor_first")
    if not np.isfinite(first) or r.get("first_epoch") == r.get("last_epoch"):
        return ""
    changed = abs(first - f) >= 0.03
    text = (f"Training {'changed' if changed else 'barely changed'} it: {factor_text(first)} at "
            f"{probe_when(r.get('first_epoch'))} → {factor_text(f)} at {probe_when(r.get('last_epoch'))}")
    carry, carry_first = _num(r, "carry"), _num(r, "carry_first")
    moved = []
    if np.isfinite(carry) and np.isfinite(carry_first):
        moved.append(f"carry {carry_first:.2f} → {carry:.2f}")
    lo0, hi0 = _num(r, "jac_sigma_min_first"), _num(r, "jac_sigma_max_first")
    lo, hi = _num(r, "jac_sigma_min"), _num(r, "jac_sigma_max")
    # σ_min below 1e-6 is an exact zero (a dropped direction) or float32 round-off: neither is a size that
    # can halve or double, so it is compared only above that.
    lows = lo > 1e-6 and lo0 > 1e-6 and (lo / lo0 < 0.5 or lo0 / lo < 0.5)
    if np.isfinite(hi0) and np.isfinite(hi) and (hi / hi0 > 1.2 or hi0 / hi > 1.2 or lows):
        moved.append(f"σ {sigma_min_text(lo0, hi0)}–{hi0:.3g} → {sigma_min_text(lo, hi)}–{hi:.3g}"
                     + ("" if changed else ", a spread the norm hides"))
    return text + (f" ({'; '.join(moved)})" if moved else "") + "."


def explain_cell(r: pd.Series, said: dict | None = None) -> str:
    """Why this cell's ‖dh_T/dh_t‖ decays as it does, in words computed from its row:
    the carry gate of a gated cell, the Jacobian's spectrum and the tanh slope of an
    ungated one; and whether training changed it (first against last probe). ``said``, one
    dict shared by the paragraphs of one listing: a caveat explained in an earlier cell's
    paragraph is pointed to, not repeated."""
    f, lam = _num(r, "decay_factor"), _num(r, "lyapunov_top")
    parts = [f"{r.cell}: {factor_text(f)} per step,"]
    if np.isfinite(_num(r, "carry")):
        parts.append(_gate_reason(r, f))
    elif np.isfinite(_num(r, "jac_sigma_max")):
        parts.append(_spectrum_reason(r))
    else:
        parts[0] = parts[0].rstrip(",") + "."
    if np.isfinite(lam):
        parts.append(f"Top Lyapunov exponent (finite-time, most expanding direction) {lam:+.3g} "
                     f"({factor_text(math.exp(lam))} per step).")
    qr = _num(r, "qr_lyapunov_max")
    if np.isfinite(qr) and np.isfinite(lam) and abs(qr - lam) > 0.05:
        if said is not None and "qr" in said:
            parts.append(f"(The QR method's top column gives {qr:+.3g}; why it differs: see {said['qr']}.)")
        else:
            parts.append(f"(The QR method's top column, transient discarded, gives {qr:+.3g}: over so few steps it "
                         "follows the starting basis, not the most expanding direction.)")
            if said is not None:
                said["qr"] = r.cell
    parts.append(_lyapunov_sum(r, said))
    parts.append(_training_reason(r, f))
    return " ".join(p for p in parts if p)
