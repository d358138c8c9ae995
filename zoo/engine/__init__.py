"""The engine: backend glue, the compiled training step, the probes, one run."""
