"""DeepSDF, re-implemented: importable code behind the top-level scripts."""
