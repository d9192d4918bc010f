"""Activities: every side effect a workflow causes happens here."""
