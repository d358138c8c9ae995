"""The engine: backend glue, the compiled training step, the probes, one run."""

from zoo.core.process import prepare_for_keras

prepare_for_keras()  # before Keras can be imported: the engine's modules import it
