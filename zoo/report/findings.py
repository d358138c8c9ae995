"""A few sentences, computed from the tables, that say what a comparison shows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo.core.analysis import decay_factor
from zoo.report.answer import rate_past_first_step, trend
from zoo.report.cell_reasons import explain_cell, probe_when
from zoo.report.run_numbers import VANISH_FRACTION as VANISH
from zoo.report.table_text import factor_text, metric_label, setting_columns, vanish_text


def _overlap(a: pd.Series, b: pd.Series, col: str) -> bool:
    half_a, half_b = a[f"{col}_ci95"], b[f"{col}_ci95"]
    if math.isnan(half_a) or math.isnan(half_b):
        return False
    return a[col] + half_a >= b[col] - half_b


_x = factor_text  # a per-step factor, as every sentence here writes it: ×0.63


def main_findings(summary: pd.DataFrame, diverged: pd.DataFrame | None = None,
                  epochs: pd.DataFrame | None = None) -> list[str]:
    """What the default comparison shows: accuracy, gradients through time, cost. ``epochs``
    (epochs.csv's rows) gives the training time per step once compiled; without it the cost says
    the run's wall time, and what it includes."""
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
    if len(by_mode) > 1:  # a ranking of modes needs two of them
        # Not the table's test MAE, which a horizon mode takes over every value it predicts: named, so a
        # reader looking for these numbers finds them (summary.csv).
        out.append(
            f"Predicting the next value (test_mae_next in summary.csv: the MAE of the first predicted value "
            f"only; the table's test MAE is over every predicted value), {by_mode.index[0]} is the most "
            f"accurate mode ({by_mode.iloc[0]:.3g}, mean over cells) and {by_mode.index[-1]} the least "
            f"({by_mode.iloc[-1]:.3g})."
        )

    decays = s.dropna(subset=["decay_factor"])
    if not decays.empty:
        mode = "many_to_one" if "many_to_one" in set(decays["mode"]) else decays.groupby("mode").size().idxmax()
        d = decays[decays["mode"] == mode].sort_values("decay_factor", ascending=False)
        listing = ", ".join(f"{_x(r.decay_factor)} for {r.cell}" for r in d.itertuples())
        out.append(
            f"Gradients through time ({mode}, {probe_when(d.last_epoch.max())}): each step back multiplies "
            f"‖dh_T/dh_t‖ by {listing} (geometric mean over lags 1-5, mean over seeds); {_order(d)}. Vanish lag "
            f"(below {VANISH:g} of lag 0): {_vanish_lags(d)}."
        )
        said: dict = {}  # each caveat in full once, in the first cell's paragraph that needs it
        out += [explain_cell(r, said) for _, r in d.iterrows()]

    out += divergence_findings(summary, diverged)
    out.append(f"Cost: {_fewest_parameters(s)}; " + _speed(s, epochs))
    return out


def _fewest_parameters(s: pd.DataFrame) -> str:
    """Which cell has the fewest parameters, mode by mode: a mode's input width (one_to_one reads the
    window as one step of features) changes every cell's count, so one mode's count is not the grid's."""
    least = []  # (mode, count, every cell with that count)
    for mode, g in s.dropna(subset=["params"]).groupby("mode", sort=False):
        low = g.params.min()
        least.append((mode, int(low), " and ".join(sorted(g.cell[g.params == low]))))
    counts = ", ".join(f"{n} in {mode}" for mode, n, _ in least)
    if len({cells for _, _, cells in least}) == 1:
        cells = least[0][2]
        where = "every mode" if len(least) > 1 else least[0][0]
        return f"{cells} {'have' if ' and ' in cells else 'has'} the fewest parameters in {where} ({counts})"
    return "the fewest parameters: " + ", ".join(f"{cells} ({n}) in {mode}" for mode, n, cells in least)


def _vanish_lags(d: pd.DataFrame) -> str:
    """Each cell's vanish lag, cells with the same one named together: where no cell's norm
    fell below the threshold the sentence says so once, not once per cell."""
    by_text: dict[str, list[str]] = {}
    for r in d.itertuples():
        by_text.setdefault(vanish_text(r._asdict()), []).append(r.cell)
    if len(by_text) == 1 and len(d) > 1:
        return f"{next(iter(by_text))} in every cell"
    return "; ".join(f"{text} in {', '.join(cells)}" for text, cells in by_text.items())


def step_seconds(epochs: pd.DataFrame | None) -> pd.Series:
    """Per cell, the seconds per training step once compiled, fastest first: each ok run's median over
    its epochs after the first (the first compiles the step, or loads it from the compile cache, so a
    cell that reuses another's programs would look fast), mean over its modes and seeds."""
    if epochs is None or epochs.empty or not {"train_seconds", "steps", "epoch", "run_id"} <= set(epochs.columns):
        return pd.Series(dtype=float)
    e = epochs[(epochs.epoch > epochs.groupby("run_id").epoch.transform("min")) & (epochs.steps > 0)]
    if "status" in e:
        e = e[e.status == "ok"]  # a diverged run's late epochs stop early or skip steps
    per_step = (e.train_seconds / e.steps).groupby([e.cell, e["mode"], e.run_id]).median()
    return per_step.groupby(level=["cell", "mode"]).mean().groupby(level="cell").mean().sort_values()


def _speed(s: pd.DataFrame, epochs: pd.DataFrame | None) -> str:
    """Which cell trains fastest, by the time per training step once compiled where the epochs are given;
    else by the run's wall time, said for what it is."""
    steady = step_seconds(epochs)
    if len(steady) > 1:
        return (f"{steady.index[0]} trains fastest ({steady.iloc[0] * 1e3:.3g} ms per training step, the median "
                f"over the epochs after the first, which compiles; mean over modes) and {steady.index[-1]} slowest "
                f"({steady.iloc[-1] * 1e3:.3g} ms).")
    wall = s.groupby("cell").seconds.mean().sort_values()
    return (f"{wall.index[0]} took the least wall time ({wall.iloc[0]:.3g} s per run, mean over modes) and "
            f"{wall.index[-1]} the most ({wall.iloc[-1]:.3g} s): the whole run, compiling (or loading the compiled "
            "programs from the cache, which a cell built like an earlier one does) and the probes included, so "
            "this is no training speed.")


def _order(d: pd.DataFrame) -> str:
    """Which cell's gradient grows, holds, vanishes least and vanishes most, by each row's rate past
    its first step (``rate_past_first_step``); a rate above 1 is said to grow, never to vanish least."""
    rates = [rate_past_first_step(getattr(r, "decay_rate", math.nan), r.decay_factor) for r in d.itertuples()]
    d = d.assign(rate=rates).sort_values("rate", ascending=False, kind="stable")
    grows = list(dict.fromkeys(r.cell for r in d.itertuples() if trend(r.rate) == "grows"))
    holds = list(dict.fromkeys(r.cell for r in d.itertuples() if trend(r.rate) == "holds"))
    rest = d[~d.cell.isin(grows + holds)]
    parts = [f"{' and '.join(grows)}'s grows (above 1)"] if grows else []
    if holds:
        parts.append(f"{' and '.join(holds)}'s keeps about its size (neither 1% nor 100 times of it within "
                     "1,000 steps)")
    if len(rest) > 1:
        parts.append(f"{rest.iloc[0].cell}'s vanishes least, {rest.iloc[-1].cell}'s most")
    elif len(rest):
        parts.append(f"{rest.iloc[0].cell}'s vanishes")
    sloped = "decay_rate" in d and np.isfinite(pd.to_numeric(d.decay_rate, errors="coerce")).any()
    return ("past the first step (the slope of ln‖dh_T/dh_t‖ from lag 1 on), " if sloped else "") + "; ".join(parts)


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
    when = ", ".join(probe_when(e) for e in sorted(set(d.probe_epoch.dropna())))
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
            out.append(f"At {probe_when(int(first.epoch.min()))}, through time: " + "; ".join(growth) + ".")
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
