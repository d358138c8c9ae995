"""The zoo's probes on a user's own Keras model (``zoo.diagnose``, ``zoo.ProbeCallback``), by job:

- ``checks``: the model, data and loss checked before any work (``DiagnoseError``);
- ``layers``: the model's recurrent layers found, their inputs captured while the
  model runs, their cell paths checked against their own outputs;
- ``diagnoser``: the ``Diagnoser``, every layer's probes compiled once and
  measured at any weights, with the registered probes' own code;
- ``registered``: the other registered probes (``zoo.probes``) on each layer,
  through a ``LayerContext``.
"""

from zoo.engine.diagnose.checks import DiagnoseError, check_data, check_finite_weights, check_model, per_sample_loss_fn
from zoo.engine.diagnose.diagnoser import Diagnoser, histogram, is_finite
from zoo.engine.diagnose.layers import Recurrent, capturing, find_recurrent, gate_function, replacing
from zoo.engine.diagnose.registered import LayerContext

__all__ = [
    "DiagnoseError", "Diagnoser", "LayerContext", "Recurrent", "capturing", "check_data", "check_finite_weights",
    "check_model", "find_recurrent", "gate_function", "histogram", "is_finite", "per_sample_loss_fn", "replacing",
]
