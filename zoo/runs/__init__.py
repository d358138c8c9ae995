"""Runs on disk and how they are trained: the store, the runner, the executors."""
