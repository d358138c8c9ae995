"""dL/dx by lag, per run: how much of the loss's reaction to its input reaches the oldest step.

A run is reduced to dL/dx at its oldest lag over dL/dx at lag 0 (the last
step), at the last probed epoch: near 0, the loss hardly sees the start of a
sequence. The report's gradient-by-lag figure draws the whole profile (from
probes.csv, which holds these rows too). Keras-free.
"""

from __future__ import annotations

import math

from zoo.core.probe_registry import register_probe


@register_probe(
    "input_gradient",
    columns=("dL_dx",),
    unit="lag",
    summary=("dL_dx_oldest_ratio",),
    reduce="last",
    fmt=".3g",
    explain={"dL_dx_oldest_ratio": "dL/dx at the oldest lag over dL/dx at lag 0, at the last probed epoch "
                                   "(near 0: the loss hardly sees the start of a sequence)"},
)
def summarize(rows) -> dict[str, float]:
    """dL/dx by lag: each input step's own gradient (the RMS over the probe batch of its norm)."""
    by_lag = rows.set_index("lag").dL_dx.sort_index()
    newest = float(by_lag.iloc[0])
    return {"dL_dx_oldest_ratio": float(by_lag.iloc[-1]) / newest if newest > 0 else math.nan}
