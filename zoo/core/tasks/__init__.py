"""Tasks: pure NumPy data generators, (settings, seed) in, arrays out.

One file per task, each registering itself with ``@register_task``;
importing this package registers them all (``zoo.core.catalog`` does).
"""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
