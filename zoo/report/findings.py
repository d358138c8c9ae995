"""A few sentences, computed from the tables, that say what a comparison shows."""

from __future__ import annotations

import math

import pandas as pd

from zoo.report.tables import setting_columns


def _overlap(a: pd.Series, b: pd.Series, col: str) -> bool:
    half_a, half_b = a[f"{col}_ci95"], b[f"{col}_ci95"]
    if math.isnan(half_a) or math.isnan(half_b):
        return False
    return a[col] + half_a >= b[col] - half_b


def _factor(rate: float) -> str:
    return f"×{math.exp(rate):.3g}"


def main_findings(summary: pd.DataFrame) -> list[str]:
    """What the default comparison shows: accuracy, gradients through time, cost."""
    s = summary[summary.ok > 0]
    if s.empty:
        return ["No run finished ok, so there is nothing to compare yet."]
    out = []
    modes = list(dict.fromkeys(s["mode"]))
    winners, close = {}, []
    for mode in modes:
        m = s[s["mode"] == mode].sort_values("test_mae")
        winners.setdefault(m.iloc[0].cell, []).append(mode)
        if len(m) > 1 and _overlap(m.iloc[0], m.iloc[1], "test_mae"):
            close.append(mode)
    ranked = sorted(winners.items(), key=lambda kv: -len(kv[1]))
    parts = [f"{cell} in {len(ms)} of {len(modes)} ({', '.join(ms)})" for cell, ms in ranked]
    sentence = "Lowest test MAE: " + "; ".join(parts) + "."
    if close:
        sentence += (
            f" In {len(close)} of those modes ({', '.join(close)}) the lead is within the "
            "seed-to-seed spread: the 95% intervals of the best two cells overlap."
        )
    out.append(sentence)

    by_mode = s.groupby("mode").test_mae_next.mean().sort_values()
    out.append(
        f"Predicting the next value, {by_mode.index[0]} is the most accurate mode "
        f"(test MAE {by_mode.iloc[0]:.3g}, mean over cells) and {by_mode.index[-1]} the least "
        f"({by_mode.iloc[-1]:.3g})."
    )

    decays = s.dropna(subset=["decay_rate"])
    if not decays.empty:
        mode = decays.groupby("mode").size().idxmax() if "many_to_one" not in set(decays["mode"]) else "many_to_one"
        d = decays[decays["mode"] == mode].sort_values("decay_rate")
        listing = ", ".join(f"{_factor(r.decay_rate)} for {r.cell}" for r in d.itertuples())
        slow = d.iloc[-1]
        out.append(
            f"Gradients through time ({mode}, last probed epoch): per step back, ‖dh_T/dh_t‖ shrinks "
            f"{listing}; {slow.cell}'s through-time gradient vanishes least here."
        )

    diverged = int(summary.diverged.sum())
    peak = s.grad_norm_peak.max()
    peak_row = s.loc[s.grad_norm_peak.idxmax()]
    out.append(
        f"{diverged} of {int(summary.seeds.sum())} runs diverged. The largest gradient norm of any "
        f"step was {peak:.3g} ({peak_row.cell}, {peak_row['mode']})"
        + (": no step came near exploding." if peak < 100 else ".")
    )
    ref = s[s["mode"] == modes[0]]
    cheapest = ref.sort_values("params").iloc[0]
    fastest = s.groupby("cell").seconds.mean().sort_values()
    out.append(
        f"Cost: {cheapest.cell} has the fewest parameters ({int(cheapest.params)} in {modes[0]}); "
        f"{fastest.index[0]} trains fastest ({fastest.iloc[0]:.3g} s per run, mean over modes) "
        f"and {fastest.index[-1]} slowest ({fastest.iloc[-1]:.3g} s)."
    )
    return out


def experiment_findings(summary: pd.DataFrame, probes: pd.DataFrame) -> list[str]:
    """What a sweep shows, chosen by the setting it sweeps."""
    axes = setting_columns(summary)
    out = []
    if "window" in axes and not probes.empty:
        out += _window_findings(summary, probes)
    if "global_clipnorm" in axes or "clipnorm" in axes:
        out += _clipping_findings(summary, "global_clipnorm" if "global_clipnorm" in axes else "clipnorm")
    if "units" in axes:
        out += _budget_findings(summary)
    return out or ([] if len(summary) else ["No finished runs yet."])


def _window_findings(summary: pd.DataFrame, probes: pd.DataFrame) -> list[str]:
    p = probes.dropna(subset=["dhT_dht"])
    if p.empty:
        return []
    window = int(p.window.max())
    last = p[(p.window == window)]
    last = last[last.epoch == last.groupby("run_id").epoch.transform("max")]
    ratios = []
    for cell, c in last.groupby("cell"):
        m = c.groupby("lag").dhT_dht.mean()
        ratios.append((m.iloc[-1] / m.iloc[0], cell))
    ratios.sort()
    listing = ", ".join(f"{r:.2g} for {cell}" for r, cell in ratios)
    rates = summary[summary.window == window].set_index("cell").decay_rate
    return [
        f"With a window of {window} steps, ‖dh_T/dh_t‖ at lag {window} is {listing} of its lag-0 value "
        f"(last probed epoch, mean over seeds). Per-step decay rates: "
        + ", ".join(f"{cell} {rate:.3g}" for cell, rate in rates.items())
        + "."
    ]


def _clipping_findings(summary: pd.DataFrame, column: str) -> list[str]:
    out = []
    for cell, c in summary.groupby("cell"):
        off = c[c[column].isna()]
        on = c[c[column].notna()]
        if off.empty or on.empty:
            continue
        off, on = off.iloc[0], on.iloc[0]
        out.append(
            f"{cell}: without clipping {int(off.diverged)} of {int(off.seeds)} runs diverged "
            f"(peak gradient norm {off.grad_norm_peak:.3g} among the ok ones)"
            if off.ok
            else f"{cell}: without clipping {int(off.diverged)} of {int(off.seeds)} runs diverged"
        )
        out[-1] += (
            f"; clipped at {on[column]:g}, {int(on.diverged)} of {int(on.seeds)} diverged, "
            f"{on.clipped_fraction:.1%} of steps were clipped, final training loss {on.loss:.3g}."
        )
    return out


def _budget_findings(summary: pd.DataFrame) -> list[str]:
    s = summary[summary.ok > 0]
    out = []
    for label, part in (("equal units", s[s.units == s.units.mode().iloc[0]]), ("equal parameters", None)):
        if part is None:
            part = s.drop(s[s.units == s.units.mode().iloc[0]].index)
        if part.empty:
            continue
        wins = part.loc[part.groupby("mode").test_mae.idxmin()]
        counts = wins.cell.value_counts()
        out.append(
            f"At {label}: lowest test MAE "
            + "; ".join(f"{cell} in {n} of {len(wins)} modes" for cell, n in counts.items())
            + f" (parameters {int(part.params.min())}–{int(part.params.max())})."
        )
    return out

