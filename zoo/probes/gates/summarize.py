"""The gates' mean activations: how open each gate is, at the probed epochs.

``carry`` puts every gated cell on one scale: the share of the old state a
step keeps (Keras's GRU: z; the post's GRU: 1 - z; the LSTM: f; the MGU:
1 - f). A run is reduced to its carry at the initial and the final weights
and to the name of its own gate that is the carry, where one is. Keras-free.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from zoo.core.analysis import gate_sets_factor
from zoo.core.colors import cell_colors, cell_markers, figure_legend, marked
from zoo.core.probe_registry import register_probe


def carry_gate(first) -> str:
    """Which of a cell's own gates is its carry (the same activations, at the initial weights):
    "update" for Keras's GRU, "forget" for the LSTM; "" when the carry is no single gate (1 - z)."""
    means = first.set_index("gate")["mean"]
    if "carry" not in means.index:
        return ""
    same = [g for g, v in means.items() if g != "carry" and abs(v - means["carry"]) < 1e-7]
    return same[0] if same else ""


# What "carry" is in the built-in gated cells, for the figure's title where they are drawn.
# Named by cell: gru (Keras's GRU) and seed_gru (the post's) are two cells with opposite conventions.
CARRY_OF = {"gru": "z (Keras's GRU)", "seed_gru": "1 − z (the post's GRU)", "lstm": "forget f", "mgu": "1 − f"}


def figure(table):
    """Each gate's mean activation by probed epoch (or optimizer step, for a budget of steps), a panel
    per gate, a line per cell (mean over seeds, band: min..max), for many_to_one where it was measured,
    else the first mode."""
    if table.empty:
        return None
    mode = "many_to_one" if (table["mode"] == "many_to_one").any() else table["mode"].iloc[0]
    g = table[table["mode"] == mode]
    names = ["carry"] + sorted(set(g.gate) - {"carry"}) if "carry" in set(g.gate) else sorted(set(g.gate))
    colors, markers = cell_colors(g.cell.unique()), cell_markers(g.cell.unique())
    cols = min(len(names), 4)  # rows of at most 4 panels: the gates of 15 cells are a dozen names
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(max(4.2 * cols, 9.0), 3.0 * rows), layout="constrained")
    grid = fig.subplots(rows, cols, squeeze=False, sharey=True)
    axes = grid.ravel()[: len(names)]
    for ax in grid.ravel()[len(names):]:
        ax.set_visible(False)
    # A grid trained for optimizer steps probes every eval_every of them: its axis counts those steps.
    at = "optimizer_step" if "optimizer_step" in g and len(g) and g.optimizer_step.notna().all() else "epoch"
    for ax, name in zip(axes, names):
        for cell, c in g[g.gate == name].groupby("cell"):
            by_epoch = c.groupby(at)["mean"]
            mean = by_epoch.mean()
            ax.plot(mean.index, mean.to_numpy(), color=colors[cell], label=cell, lw=1.6,
                    **marked(markers[cell], mean.to_numpy()))
            if c.seed.nunique() > 1:
                ax.fill_between(mean.index, by_epoch.min().to_numpy(), by_epoch.max().to_numpy(),
                                color=colors[cell], alpha=0.2, lw=0)
        ax.set(title=name + (" (share of old state kept)" if name == "carry" else ""),
               xlabel=f"{'optimizer step' if at == 'optimizer_step' else 'probed epoch'} (0: initial weights)",
               ylim=(0, 1))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for row in grid:
        row[0].set_ylabel("mean activation\non the probe batch")
    shown = [f"{cell}'s {meaning}" for cell, meaning in CARRY_OF.items() if cell in set(g.cell)]
    fig.suptitle(f"Gate activity ({mode}): carry = " + (", ".join(shown) if shown else
                                                        "the share of the old state a step keeps"))
    figure_legend(fig, axes, frameon=False)
    return fig


def finding(summary):
    """A sentence: which cell's trained carry gate keeps the most of its state per step, and which the least.

    Only among the cells whose gate accounts for their measured per-step factor of ‖dh_T/dh_t‖
    (``gate_sets_factor``): sLSTM's forget gate averages 0.09 while its state keeps ×0.63-0.69 a step,
    so "the closer to 1, the longer the memory" would misread it. Those are named as left out.
    """
    means = summary.groupby(["cell", "mode"]).carry.mean().dropna()
    if "decay_factor" in summary:
        factors = summary.groupby(["cell", "mode"]).decay_factor.mean().reindex(means.index)
        apart = [key for key in means.index
                 if np.isfinite(factors[key]) and not gate_sets_factor(means[key], factors[key])]
    else:
        apart = []
    kept = means.drop(apart)
    left = (f" Left out: {', '.join(f'{cell} ({mode})' for cell, mode in apart)}: the gate's mean does not "
            "account for how fast the state's gradient shrinks (the per-step factor of ‖dh_T/dh_t‖; the cell's "
            "paragraph says why); the figure still draws the gate's mean, as measured." if apart else "")
    if len(kept) < 2:
        return left.strip() or None
    lo, hi = kept.idxmin(), kept.idxmax()
    return (f"Gates: after training, {hi[0]} ({hi[1]}) keeps {kept[hi]:.2f} of its state per step (its mean "
            f"carry gate) and {lo[0]} ({lo[1]}) {kept[lo]:.2f}: the closer to 1, the longer the memory.") + left


@register_probe(
    "gates",
    columns=("mean",),
    unit="gate",
    summary=("carry", "carry_first", "carry_gate"),
    reduce="all",
    fmt=".3f",
    figure=figure,
    finding=finding,
    every_run=("carry_first", "carry_gate"),
    explain={"carry": "the carry gate's mean activation at the last probed epoch: the share of the old state "
                      "a step keeps",
             "carry_first": "the same at the initial weights (epoch 0)",
             "carry_gate": "which of the cell's gates is its carry (empty where the carry is 1 − a gate)"},
)
def summarize(rows) -> dict:
    """Mean gate activations (carry: the share of the old state a step keeps) at the probed epochs."""
    first, last = rows[rows.epoch == rows.epoch.min()], rows[rows.epoch == rows.epoch.max()]

    def carry(at) -> float:
        found = at[at.gate == "carry"]["mean"]
        return float(found.iloc[0]) if len(found) else math.nan

    return {"carry": carry(last), "carry_first": carry(first), "carry_gate": carry_gate(first)}
