"""Built-in cells, one file per family. Importing this package registers them.

Every module in this folder is imported, so a new cell is one new file. A file
that fails to import is one warning naming it, and is left out; the other cells
stay usable (``zoo.core.catalog.load_folder``).
"""

from zoo.core.catalog import CELL_GROUP, load_folder

load_folder(__name__, __path__, CELL_GROUP)
