"""What the local executor's forkserver imports once, so that each worker starts with Keras loaded.

A spawned worker imports Keras and JAX itself: about 7 s of CPU, more than a
small run trains for. Under the "forkserver" start method the driver starts
one server process, which imports this module once; each worker is then a
fork of it and starts in a fraction of a second (``make bench``, "worker
start"). Importing Keras on JAX starts no thread (JAX's backend starts at the
first computation, in the worker), so forking the server is safe; the local
executor uses it on the JAX backend only (``zoo.runs.executors.local``).
"""

from zoo.runs.executors import prepare_worker

# One thread, as a worker has it (numpy's BLAS reads its thread count at import),
# then Keras on rnn-zoo's backend default, imported as a worker imports it.
prepare_worker(1)
