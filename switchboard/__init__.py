"""Switchboard's own package: settings, the CLI, the dev stack, the store, the web assets and the
supporting modules. The design card's parts (`api/`, `workflows/`, `activities/`, `worker.py`) stay at
the top level and import from here."""
