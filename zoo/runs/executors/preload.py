"""What the local executor's forkserver imports once, so that each worker starts with Keras loaded.

A spawned worker imports Keras and JAX itself: about 7 s of CPU, more than a
small run trains for. Under the "forkserver" start method the driver starts
one server process, which imports this module once; each worker is then a
fork of it and starts in a fraction of a second (``make bench``, "worker
start"). Importing Keras on JAX starts no thread (JAX's backend starts at the
first computation, in the worker), so forking the server is safe; the local
executor uses it on the JAX backend only (``zoo.runs.executors.local``).
"""

from zoo.core.process import prepare_for_keras
from zoo.runs.executors import prepare_worker

prepare_for_keras()
prepare_worker(1)  # numpy's BLAS reads its thread count at import: one, as a worker has it

import keras  # noqa: E402, F401
