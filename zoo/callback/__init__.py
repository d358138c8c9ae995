"""``zoo.ProbeCallback``: the zoo's gradient probes while ``model.fit`` trains a user's model.

- ``probe_callback``: the callback, its tables and its TensorBoard logs;
- ``run_folders``: a fit as the zoo's run folders and grid record (``<model>.fit``).
"""

from zoo.callback.probe_callback import PROBE_BATCH, SPECTRUM_SEQUENCES, ProbeCallback
from zoo.callback.run_folders import RECORD_SUFFIX, record_name

__all__ = ["PROBE_BATCH", "RECORD_SUFFIX", "SPECTRUM_SEQUENCES", "ProbeCallback", "record_name"]
