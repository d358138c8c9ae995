"""A few sentences, computed from the tables, that say what a comparison shows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo.core.analysis import decay_factor
from zoo.report.run_numbers import VANISH_FRACTION as VANISH
from zoo.report.table_text import factor_text, metric_label, setting_columns, sigma_min_text, vanish_text


def _overlap(a: pd.Series, b: pd.Series, col: str) -> bool:
    half_a, half_b = a[f"{col}_ci95"], b[f"{col}_ci95"]
    if math.isnan(half_a) or math.isnan(half_b):
        return False
    return a[col] + half_a >= b[col] - half_b


def _x(f: float) -> str:
    """A per-step factor: ×0.63."""
    return factor_text(f)


def _when(epoch) -> str:
    if epoch is None or not np.isfinite(epoch):
        return "the first probe"
    return "initialisation" if epoch == 0 else f"epoch {int(epoch)}"


SIGMOID_1 = 1 / (1 + math.exp(-1))  # a gate whose bias is 1 and whose other inputs are small


def _num(r: pd.Series, col: str) -> float:
    try:
        return float(r.get(col, math.nan))
    except (TypeError, ValueError):
        return math.nan


def _gate_reason(r: pd.Series, f: float) -> str:
    carry, first, hi, lo = _num(r, "carry"), _num(r, "carry_first"), _num(r, "jac_sigma_max"), _num(r, "jac_sigma_min")
    gate = r.get("carry_gate") if isinstance(r.get("carry_gate"), str) else ""
    text = f"set by its {gate or 'carry'} gate, which keeps {carry:.2f} of the state per step"
    if np.isfinite(first) and abs(first - SIGMOID_1) < 0.02:
        text += f" ({first:.3f} at {_when(r.get('first_epoch'))}: σ(1), a gate bias of 1)"
    if np.isfinite(hi):
        text += f"; one-step Jacobian σ {sigma_min_text(lo, hi)}–{hi:.3g}" + (" (all below 1)" if hi < 1 else "")
    return text + "."


def _spectrum_reason(r: pd.Series) -> str:
    lo, hi, med = _num(r, "jac_sigma_min"), _num(r, "jac_sigma_max"), _num(r, "jac_sigma_median")
    text = (f"no gate: the one-step Jacobian's σ median {med:.3g}, range {sigma_min_text(lo, hi)}–{hi:.3g} (some "
            "directions stretch, others shrink; the norm averages them)")
    slope = _num(r, "tanh_slope_mean")
    if 0 <= slope <= 1:
        regime = "almost linear" if slope > 0.9 else ("partly saturated" if slope > 0.5 else "saturated")
        text += f"; tanh' averages {slope:.2f} ({regime})"
    return text + "."


def _training_reason(r: pd.Series, f: float) -> str:
    first = _num(r, "decay_factor_first")
    if not np.isfinite(first) or r.get("first_epoch") == r.get("last_epoch"):
        return ""
    changed = abs(first - f) >= 0.03
    text = (f"Training {'changed' if changed else 'barely changed'} it: {_x(first)} at "
            f"{_when(r.get('first_epoch'))} → {_x(f)} at {_when(r.get('last_epoch'))}")
    carry, carry_first = _num(r, "carry"), _num(r, "carry_first")
    moved = []
    if np.isfinite(carry) and np.isfinite(carry_first):
        moved.append(f"carry {carry_first:.2f} → {carry:.2f}")
    lo0, hi0 = _num(r, "jac_sigma_min_first"), _num(r, "jac_sigma_max_first")
    lo, hi = _num(r, "jac_sigma_min"), _num(r, "jac_sigma_max")
    # σ_min below 1e-6 is float32 round-off of a collapsed direction: compared only above that.
    lows = lo > 1e-6 and lo0 > 1e-6 and (lo / lo0 < 0.5 or lo0 / lo < 0.5)
    if np.isfinite(hi0) and np.isfinite(hi) and (hi / hi0 > 1.2 or hi0 / hi > 1.2 or lows):
        moved.append(f"σ {sigma_min_text(lo0, hi0)}–{hi0:.3g} → {sigma_min_text(lo, hi)}–{hi:.3g}"
                     + ("" if changed else ", a spread the norm hides"))
    return text + (f" ({'; '.join(moved)})" if moved else "") + "."


def explain_cell(r: pd.Series) -> str:
    """Why this cell's ‖dh_T/dh_t‖ decays as it does, in words computed from its row:
    the carry gate of a gated cell, the Jacobian's spectrum and the tanh slope of an
    ungated one; and whether training changed it (first against last probe)."""
    f, lam = _num(r, "decay_factor"), _num(r, "lyapunov_top")
    parts = [f"{r.cell}: {_x(f)} per step,"]
    if np.isfinite(_num(r, "carry")):
        parts.append(_gate_reason(r, f))
    elif np.isfinite(_num(r, "jac_sigma_max")):
        parts.append(_spectrum_reason(r))
    else:
        parts[0] = parts[0].rstrip(",") + "."
    if np.isfinite(lam):
        parts.append(f"Top Lyapunov exponent (finite-time, most expanding direction) {lam:+.3g} "
                     f"({_x(math.exp(lam))} per step).")
    qr, total, unresolved = _num(r, "qr_lyapunov_max"), _num(r, "lyapunov_sum"), _num(r, "lyapunov_sum_unresolved")
    if np.isfinite(qr) and np.isfinite(lam) and abs(qr - lam) > 0.05:
        parts.append(f"(The QR method's top column, transient discarded, gives {qr:+.3g}: over so few steps it "
                     "follows the starting basis, not the most expanding direction.)")
    if np.isfinite(unresolved) and unresolved < 0 and np.isfinite(total):
        parts.append(f"Lyapunov sum {total:.4g} per step, {unresolved:.4g} of it from directions below float32 "
                     "resolution (round-off or the 1e-30 clamp), not from the dynamics.")
    parts.append(_training_reason(r, f))
    return " ".join(p for p in parts if p)


def main_findings(summary: pd.DataFrame, diverged: pd.DataFrame | None = None) -> list[str]:
    """What the default comparison shows: accuracy, gradients through time, cost."""
    s = summary[summary.ok > 0]
    if s.empty:
        return ["No run finished ok, so there is nothing to compare yet."]
    out = []
    modes = list(dict.fromkeys(s["mode"]))
    winners, close = {}, []
    # A classification task has no MAE: its own metric (cross-entropy) ranks the cells.
    key = "test_mae" if s.test_mae.notna().any() or "metric_value" not in s else "metric_value"
    name = "test MAE" if key == "test_mae" else f"test {metric_label(s.metric.iloc[0])}"
    for mode in modes:
        m = s[s["mode"] == mode].sort_values(key)
        winners.setdefault(m.iloc[0].cell, []).append(mode)
        if len(m) > 1 and _overlap(m.iloc[0], m.iloc[1], key):
            close.append(mode)
    ranked = sorted(winners.items(), key=lambda kv: -len(kv[1]))
    parts = [f"{cell} in {len(ms)} of {len(modes)} ({', '.join(ms)})" for cell, ms in ranked]
    sentence = f"Lowest {name}: " + "; ".join(parts) + "."
    if close:
        sentence += (
            f" In {len(close)} of those modes ({', '.join(close)}) the lead is within the "
            "seed-to-seed spread: the 95% intervals of the best two cells overlap."
        )
    out.append(sentence)

    by_mode = s.groupby("mode").test_mae_next.mean().dropna().sort_values()
    if len(by_mode):
        out.append(
            f"Predicting the next value, {by_mode.index[0]} is the most accurate mode "
            f"(test MAE {by_mode.iloc[0]:.3g}, mean over cells) and {by_mode.index[-1]} the least "
            f"({by_mode.iloc[-1]:.3g})."
        )

    decays = s.dropna(subset=["decay_factor"])
    if not decays.empty:
        mode = "many_to_one" if "many_to_one" in set(decays["mode"]) else decays.groupby("mode").size().idxmax()
        d = decays[decays["mode"] == mode].sort_values("decay_factor", ascending=False)
        listing = ", ".join(f"{_x(r.decay_factor)} for {r.cell}" for r in d.itertuples())
        out.append(
            f"Gradients through time ({mode}, {_when(d.last_epoch.max())}): each step back multiplies ‖dh_T/dh_t‖ by "
            f"{listing} (geometric mean over lags 1-5, mean over seeds); {d.iloc[0].cell}'s vanishes least, "
            f"{d.iloc[-1].cell}'s most. Vanish lag (below {VANISH:g} of lag 0): "
            + "; ".join(f"{r.cell} {vanish_text(r._asdict())}" for r in d.itertuples()) + "."
        )
        out += [explain_cell(r) for _, r in d.iterrows()]

    out += divergence_findings(summary, diverged)
    ref = s[s["mode"] == modes[0]]
    cheapest = ref.sort_values("params").iloc[0]
    fastest = s.groupby("cell").seconds.mean().sort_values()
    out.append(
        f"Cost: {cheapest.cell} has the fewest parameters ({int(cheapest.params)} in {modes[0]}); "
        f"{fastest.index[0]} trains fastest ({fastest.iloc[0]:.3g} s per run, mean over modes) "
        f"and {fastest.index[-1]} slowest ({fastest.iloc[-1]:.3g} s)."
    )
    return out


def divergence_findings(summary: pd.DataFrame, diverged: pd.DataFrame | None) -> list[str]:
    """How many runs diverged, each group's peak gradient norm and epoch, and why."""
    n = int(summary.diverged.sum())
    s = summary[summary.ok > 0]
    out = []
    if n == 0:
        if not s.empty:
            peak_row = s.loc[s.grad_norm_peak.idxmax()]
            out.append(
                f"0 of {int(summary.seeds.sum())} runs diverged. The largest gradient norm of any step was "
                f"{peak_row.grad_norm_peak:.3g} ({peak_row.cell}, {peak_row['mode']})"
                + (": no step came near exploding." if peak_row.grad_norm_peak < 100 else ".")
            )
        return out
    sentence = f"{n} of {int(summary.seeds.sum())} runs diverged: " + "; ".join(
        f"{int(r.diverged)} of {int(r.seeds)} {_group(r)} (first in epoch {r.diverged_epoch:.0f}; peak gradient "
        f"norm {r.diverged_peak_norm:.3g} in epoch {r.diverged_peak_epoch:.0f})"
        for _, r in summary[summary.diverged > 0].iterrows()
    ) + "."
    out.append(sentence)
    if diverged is not None and not diverged.empty:
        out += [_cause_sentence(cause, d, len(diverged)) for cause, d in diverged.groupby("cause", sort=False)]
    return out


def _range(values: pd.Series) -> str:
    v = values.dropna()
    return _x(v.min()) if v.min() == v.max() else f"{_x(v.min())} to {_x(v.max())}"


def _cause_sentence(cause: str, d: pd.DataFrame, total: int) -> str:
    """One sentence per cause over the diverged runs (``run_numbers.divergence_cause``)."""
    when = ", ".join(_when(e) for e in sorted(set(d.probe_epoch.dropna())))
    who = f"All {total} diverged runs" if len(d) == total else f"{len(d)} of the {total} diverged runs"
    if cause == "through time":
        return (f"{who} diverged through time: at their last finite probe ({when}), ‖dh_T/dh_t‖ grew "
                f"{_range(d.dh_factor)} per step back over lags 1-5 (×{d.dh_growth.min():.3g} to "
                f"×{d.dh_growth.max():.3g} by the last lag), so the recurrence amplified the gradient.")
    parts = []
    no_path = d[d.dh_factor.isna()]
    if len(no_path):
        parts.append(f"{len(no_path)} carry no state through time (one step from a zero state)")
    shrink = d[d.dh_factor.notna()]
    if len(shrink):
        parts.append(f"{len(shrink)} had ‖dh_T/dh_t‖ shrinking {_range(shrink.dh_factor)} per step back ({when})")
    return f"{who} diverged from the step size: " + " and ".join(parts) + ", so nothing grew with lag."


def _group(r: pd.Series) -> str:
    """"cell mode (window 50, global_clipnorm none)": a summary row's name."""
    settings = [c for c in r.index[2 : list(r.index).index("seeds")]]
    extra = ", ".join(f"{c} {_setting(r[c])}" for c in settings)
    return f"{r.cell} {r['mode']}" + (f" ({extra})" if extra else "")


def _setting(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "none"
    return f"{v:g}" if isinstance(v, float) else str(v)


def window_findings(summary: pd.DataFrame) -> list[str]:
    s = summary[summary.ok > 0].dropna(subset=["decay_factor"])
    if s.empty:
        return []
    out = []
    for cell, c in s.groupby("cell", sort=False):
        c = c.sort_values("window")
        early = ", ".join(f"{_x(r.decay_factor)} at window {int(r.window)}" for r in c.itertuples())
        sentence = f"{cell}: per step over lags 1-5, {early}"
        late = c.dropna(subset=["decay_factor_late"])
        if len(late):
            sentence += "; over the last fifth of the lags, " + ", ".join(
                f"{_x(r.decay_factor_late)} at window {int(r.window)} (lags {int(r.window) - int(r.window) // 5}"
                f"-{int(r.window)})" for r in late.itertuples())
        sentence += ". Vanish lag: " + ", ".join(
            f"{vanish_text(r)} at window {int(r['window'])}" for _, r in c.iterrows()) + "."
        out.append(sentence)
    out.append(
        "The factor over lags 1-5 is the same statistic at every window, so these compare; a fit over all lags "
        "would not, since late lags decay at a different rate than early ones."
    )
    return out


def clipping_findings(summary: pd.DataFrame, probes: pd.DataFrame, column: str,
                       diverged: pd.DataFrame | None) -> list[str]:
    """Pascanu et al. (2013)'s questions: do the gradients grow with lag, with the
    window, and does clipping rescue the runs; and does the control, with no path
    through time, diverge at the same learning rate (the step size)?"""
    out = []
    keys = [c for c in setting_columns(summary) if c != column]
    p = probes.dropna(subset=["dhT_dht"]) if "dhT_dht" in probes.columns else probes
    if not p.empty:
        first = p[p.epoch == p.groupby("run_id").epoch.transform("min")]
        growth = []
        for key, c in first.groupby(["cell", "mode", *keys]):
            m = c.groupby("lag")[["dhT_dht", "dL_dx"]].mean()
            w = int(m.index.max())
            dl, dh = m.dL_dx.dropna(), m.dhT_dht
            if w < 1 or dl.empty:
                continue
            growth.append(
                f"{' '.join(str(k) for k in key[:2])}"
                + (f" ({', '.join(f'{k} {v}' for k, v in zip(keys, key[2:]))})" if keys else "")
                + f": ‖dh_T/dh_t‖ {_x(decay_factor(dh.index.to_numpy(), dh.to_numpy()))} per step over lags 1-5, "
                f"{dh.iloc[-1] / dh.iloc[0]:.3g}x its lag-0 value by lag {w}; RMS dL/dx_t {dl.iloc[0]:.3g} at lag 0, "
                f"{dl.max():.3g} at its largest (lag {int(dl.idxmax())})"
            )
        if growth:
            out.append(f"At {_when(int(first.epoch.min()))}, through time: " + "; ".join(growth) + ".")
    for key, c in summary.groupby(["cell", "mode", *keys], sort=False):
        name = " ".join(str(k) for k in key[:2]) + (
            f" ({', '.join(f'{k} {_setting(v)}' for k, v in zip(keys, key[2:]))})" if keys else "")
        off, on = c[c[column].isna()], c[c[column].notna()]
        if off.empty or on.empty:
            continue
        off, on = off.iloc[0], on.iloc[0]
        share = on.get("recurrent_share", math.nan)
        text = f"{name}: without clipping {int(off.diverged)} of {int(off.seeds)} diverged"
        if off.diverged:
            text += (f" (epoch {off.diverged_epoch:.0f}, peak gradient norm {off.diverged_peak_norm:.3g} in epoch "
                     f"{off.diverged_peak_epoch:.0f})")
        if off.ok:
            text += (", the others" if off.diverged else "; they") + (
                f" reached training loss {off.loss:.3g} (peak norm {off.grad_norm_peak:.3g})")
        text += (f"; clipped at {on[column]:g}, {int(on.diverged)} of {int(on.seeds)} diverged, "
                 f"{on.clipped_fraction:.1%} of steps were clipped")
        if on.ok:
            text += f", training loss {on.loss:.3g}, peak norm before clipping {on.grad_norm_peak:.3g}"
        if np.isfinite(share):
            text += f"; the recurrent kernel carries {share:.0%} of the gradient norm"
        out.append(text + ".")
    out += _control_findings(summary, column)
    out += divergence_findings(summary, diverged)[1:]  # the causes; the counts are above
    return out


def _control_findings(summary: pd.DataFrame, column: str) -> list[str]:
    """The runs with no state through time against those with one, without clipping."""
    off = summary[summary[column].isna()]
    if "decay_factor_first" not in off.columns:
        return []
    control, recurrent = off[off.decay_factor_first.isna()], off[off.decay_factor_first.notna()]
    if control.empty or recurrent.empty:
        return []
    worst = control.grad_norm_peak.max()
    text = (f"Control: with no state carried through time ({', '.join(dict.fromkeys(control['mode']))}), at the same "
            f"learning rate and without clipping, {int(control.diverged.sum())} of {int(control.seeds.sum())} runs "
            f"diverged (largest gradient norm {worst:.3g}), against {int(recurrent.diverged.sum())} of "
            f"{int(recurrent.seeds.sum())} with one ({', '.join(dict.fromkeys(recurrent['mode']))}).")
    if control.diverged.sum() == 0 and recurrent.diverged.sum() > 0:
        text += " The step size alone does not make these runs diverge: the path through time does."
    elif control.diverged.sum() > 0:
        text += " The step size alone is enough to make runs diverge here."
    return [text]


def budget_findings(summary: pd.DataFrame) -> list[str]:
    """Equal units against an equal parameter budget. A cell x mode whose budget
    solved to the common units has one row, in both arms (its runs once)."""
    s = summary[summary.ok > 0]
    if s.empty:
        return []
    common = s.units.mode().iloc[0]
    pairs = s.groupby(["cell", "mode"]).units.transform("size")
    arms = {
        "equal units": s[s.units == common],
        "equal parameters": s[(s.units != common) | (pairs == 1)],
    }
    out = []
    for label, part in arms.items():
        if part.empty:
            continue
        wins = part.loc[part.groupby("mode").test_mae.idxmin()]
        counts = wins.cell.value_counts()
        out.append(
            f"At {label}: lowest test MAE "
            + "; ".join(f"{cell} in {n} of {len(wins)} modes" for cell, n in counts.items())
            + f" (parameters {int(part.params.min())}–{int(part.params.max())})."
        )
    shared = s[(s.units == common) & (pairs == 1)]
    if len(shared) and len(arms["equal parameters"]) > len(shared):
        out.append(
            "In both arms, the same runs: " + ", ".join(f"{r.cell} {r['mode']}" for _, r in shared.iterrows())
            + f" (the budget sizes them to {int(common)} units too); each is counted once, n = its seeds."
        )
    return out
