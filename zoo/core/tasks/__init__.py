"""Tasks: pure NumPy data generators, (settings, seed) in, arrays out."""
