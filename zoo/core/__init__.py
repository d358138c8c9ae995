"""The core: registries, configuration, tasks and pure analysis. No Keras, no JAX."""
