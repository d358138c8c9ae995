"""Built-in cells, one file per family. Importing this package registers them.

Every module in this folder is imported, so a new cell is one new file.
"""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
