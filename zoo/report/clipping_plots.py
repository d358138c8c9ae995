"""Figures of the clipping experiment: loss and peak gradient norm per epoch with
and without clipping, and where an explosion comes from (the gradient through
time at the initial weights, the recurrent kernel's share of the norm).
"""

from __future__ import annotations

import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from zoo.report.plots import legend, panels, subplots


def _clip_label(value) -> str:
    return "no clipping" if value is None or (isinstance(value, float) and np.isnan(value)) else f"clipped at {value:g}"


def _groups(table: pd.DataFrame, column: str) -> tuple[list[str], list[tuple]]:
    """The settings besides clipping that split a clipping experiment, and their value combinations."""
    keys = ["cell", "mode"] + [c for c in ("window", "units", "learning_rate") if c in table.columns
                               and table[c].nunique() > 1]
    combos = sorted(dict.fromkeys(map(tuple, table[keys].itertuples(index=False))), key=lambda c: tuple(map(str, c)))
    return keys, combos


def _name(keys, combo) -> str:
    return " ".join(f"{k} {v}" if k not in ("cell", "mode") else str(v) for k, v in zip(keys, combo))


CLIP_STYLES = {False: ("tab:red", "--"), True: ("tab:blue", "-")}


def clipping(epochs: pd.DataFrame, column: str) -> Figure:
    """Loss and peak gradient norm per epoch, without clipping (red, dashed) and with (blue),
    one column per cell x mode x setting; × marks the epoch where a run diverged."""
    keys, combos = _groups(epochs, column)
    # Two rows (loss, peak norm) per combination, at most 4 a line: more wrap onto further lines.
    fig, axes = panels(combos, rows=2, height=3.2, width=3.8, sharey="row")
    for col, combo in enumerate(combos):
        t = epochs[(epochs[keys] == pd.Series(combo, index=keys)).all(axis=1)]
        loss_ax, norm_ax = axes[0, col], axes[1, col]
        for clip, c in t.groupby(t[column].fillna(-1)):
            color, style = CLIP_STYLES[clip != -1]
            label = _clip_label(None if clip == -1 else clip)
            for i, (_, run) in enumerate(c.groupby("run_id")):
                good = run[np.isfinite(run.loss)]
                loss_ax.plot(good.epoch, good.loss, ls=style, color=color, lw=1.2, label=label if i == 0 else None)
                norm_ax.plot(run.epoch, run.grad_norm_max, ls=style, color=color, lw=1.2, marker="o", ms=3)
                bad = run[~np.isfinite(run.loss)]
                if len(bad):  # where a run diverged: its peak norm, then ×
                    norm_ax.plot(bad.epoch, bad.grad_norm_max, "x", color=color, ms=11, mew=2)
                    loss_ax.annotate("×", (bad.epoch.iloc[0], 1), xycoords=("data", "axes fraction"),
                                     color=color, ha="center", va="top", fontsize=16)
        for clip in t[column].dropna().unique():
            norm_ax.axhline(clip, color="black", lw=0.8, ls=":")
        loss_ax.set(yscale="log", title=_name(keys, combo))
        norm_ax.set(yscale="log", xlabel="epoch")
        norm_ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        loss_ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("training loss (log)")
    axes[1, 0].set_ylabel("largest gradient norm in the epoch,\nbefore clipping (log); dotted: clip norm")
    fig.suptitle("Clipping: every seed is a line; × at the top marks the epoch a run diverged (NaN), "
                 "× below its largest finite gradient norm")
    legend(fig, axes)
    return fig


def explosion_by_lag(probes: pd.DataFrame, gradients: pd.DataFrame, column: str) -> Figure:
    """Where an explosion comes from: at the initial weights, ‖dh_T/dh_t‖ and RMS dL/dx_t
    against lag per mode and window (the control with no state through time dashed), and
    the recurrent kernel's share of the gradient norm per epoch."""
    first = probes[probes.epoch == probes.groupby("run_id").epoch.transform("min")]
    keys, combos = _groups(first.drop(columns=[column]), column)
    palette = colormaps["tab10"].colors
    fig, axes = subplots(1, 3, figsize=(17, 4.4), squeeze=False, constrained_layout=True)
    dh_ax, dl_ax, share_ax = axes[0]
    for i, combo in enumerate(combos):
        t = first[(first[keys] == pd.Series(combo, index=keys)).all(axis=1)]
        color, name = palette[i % len(palette)], _name(keys, combo)
        through_time = t.dhT_dht.notna().any()
        style = "-" if through_time else "--"
        if through_time:
            m = t.groupby("lag").dhT_dht.mean()
            dh_ax.plot(m.index, m.values, color=color, label=name)
        m = t.groupby("lag").dL_dx.mean().dropna()
        dl_ax.plot(m.index, m.values, color=color, ls=style, marker="o" if len(m) < 12 else None, ms=3,
                   label=name + ("" if through_time else " (no recurrence: input position)"))
    g = gradients.copy()
    g["kind"] = g.group.str.split(".").str[-1]
    gkeys = [k for k in keys if k in g.columns]
    for i, combo in enumerate(combos):
        t = g[(g[gkeys] == pd.Series(combo[: len(gkeys)], index=gkeys)).all(axis=1)]
        color = palette[i % len(palette)]
        for clip, c in t.groupby(t[column].fillna(-1)):
            per_epoch = c.groupby(["run_id", "epoch"])
            rec = np.sqrt(per_epoch.apply(lambda x: (x[x.kind == "recurrent_kernel"].norm_mean ** 2).sum()))
            total = np.sqrt(per_epoch.apply(lambda x: (x.norm_mean ** 2).sum()))
            share = (rec / total).groupby("epoch").mean()
            share_ax.plot(share.index, share.values, color=color, ls=CLIP_STYLES[clip != -1][1], marker="o",
                          ms=3 if clip != -1 else 7, mfc="white" if clip == -1 else color)
    dh_ax.set(yscale="log", xlabel="lag T − t", ylabel="‖dh_T/dh_t‖ (Frobenius, mean over probe batch, log)",
              title="Through-time Jacobian at the initial weights")
    dl_ax.set(yscale="log", xlabel="lag T − t (steps before the last input)",
              ylabel="RMS ‖dL/dx_t‖ over the probe batch (log)", title="Input gradient at the initial weights")
    share_ax.set(xlabel="epoch", ylabel="recurrent kernel's share of the gradient norm", ylim=(-0.03, 1.03),
                 title="Share of the gradient in the recurrent kernel\n(solid: clipped; dashed, hollow: not clipped)")
    share_ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.legend(*dl_ax.get_legend_handles_labels(), loc="outside right center", frameon=False, fontsize=8)
    fig.suptitle("Exploding gradients through time, at the initial weights (mean over seeds; the clipped and "
                 "unclipped runs of a seed start from the same weights)")
    fig.supxlabel("Lag T − t counts steps back from the last input. A control with no state through time reads "
                  "the window as one step: its lag axis is the position of the value in that step.",
                  fontsize=9, color="0.25")
    return fig
