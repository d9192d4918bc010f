"""Prometheus metrics of the API process, served at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter

MESSAGES_IN = Counter(
    "switchboard_messages_in_total", "Customer messages durably accepted from providers", ["channel_type"]
)
WEBHOOK_REJECTED = Counter(
    "switchboard_webhook_rejected_total",
    "Provider webhook calls refused, by provider and reason",
    ["provider", "reason"],
)
