"""Switchboard's own database: SQLModel tables, sessions, encryption at rest and keyed hashing."""
