"""Alembic migrations of the store's schema (``store.migrate`` runs them)."""
