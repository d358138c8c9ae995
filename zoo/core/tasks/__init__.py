"""Tasks: pure NumPy data generators, (settings, seed) in, arrays out.

One file per task, each registering itself with ``@register_task``;
importing this package registers them all (``zoo.core.catalog`` does). A file
that fails to import is one warning naming it, and is left out; the other
tasks stay usable (``zoo.core.catalog.load_folder``).
"""

from zoo.core.catalog import TASK_GROUP, load_folder

load_folder(__name__, __path__, TASK_GROUP)
