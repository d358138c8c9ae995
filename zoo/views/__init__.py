"""Views of the stored runs beside the report: TensorBoard's logs (``tensorboard``).

A view reads the store (``zoo.store``) and the runs in memory, never the runner,
the engine or the models: the import contracts in pyproject.toml say so.
"""
