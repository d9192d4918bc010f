"""WebSocket APIs: the agent's (``agent``) and, later, the customer's."""
