"""A probe from another package: the RMS of the model's predictions on the probe batch.

The entry point (group ``rnn_zoo.probes``) names this module; importing it
registers the probe. Its engine side is ``rnn_zoo_example_probe_measure``,
named by ``measure=`` since a plugin's modules are not a folder of zoo/probes.
"""

import math

from zoo import register_probe


@register_probe("output_rms", columns=("output_rms",), unit="epoch", summary=("output_rms",), reduce="last",
                fmt=".3g", measure="rnn_zoo_example_probe_measure")
def summarize(rows):
    """RMS of the model's predictions on the probe batch (plugin example)."""
    value = float(rows.output_rms.iloc[-1]) if len(rows) else math.nan
    return {"output_rms": value}
