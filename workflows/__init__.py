"""Temporal workflow code. Deterministic: nothing here performs I/O."""
