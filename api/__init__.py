"""The thin HTTP layer: translates REST calls and provider webhooks into workflow signals,
updates and queries, and reads history from the store."""
