"""What every Switchboard process tells its operators: Prometheus metrics, logs (plain or JSON,
carrying the channel and task a line is about), and the Temporal SDK's own metrics.

The API serves the metrics of its process at ``/metrics``; a worker started on its own serves its
process's at ``SWITCHBOARD_METRICS_PORT``. ``switchboard dev`` runs both in one process, so
``/metrics`` shows everything there.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from functools import cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from pythonjsonlogger.json import JsonFormatter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from switchboard.settings import Settings

# --- metrics ---------------------------------------------------------------------------------

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WAIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

MESSAGES_IN = Counter(
    "switchboard_messages_in_total",
    "Customer messages from providers, counted once each as they are stored (retries are not counted)",
    ["channel_type"],
)
# The keys the provider webhooks give their messages ("<provider>:<the provider's id>", api/webhooks).
PROVIDER_MESSAGE_KEY_PREFIXES = ("twilio:", "meta:", "custom:")
MESSAGES_OUT = Counter(
    "switchboard_messages_out_total",
    "Messages handed to a provider, by the provider's first answer (queued, sent, failed...)",
    ["channel_type", "provider", "status"],
)
WEBHOOK_REJECTED = Counter(
    "switchboard_webhook_rejected_total",
    "Provider webhook calls refused, by provider and reason",
    ["provider", "reason"],
)
WEBHOOK_SECONDS = Histogram(
    "switchboard_webhook_seconds",
    "Time from a provider webhook's arrival to its answer (the message durable when it is 2xx)",
    ["provider", "status_class"],
    buckets=LATENCY_BUCKETS,
)
DELIVERY_SECONDS = Histogram(
    "switchboard_delivery_seconds",
    "Time a provider took to answer one outbound message",
    ["provider"],
    buckets=LATENCY_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    "switchboard_queue_depth",
    "Tasks waiting in a TaskQueue (read from the store at each scrape of the API)",
    ["workspace_sid", "queue_sid"],
)
QUEUE_WAIT_SECONDS = Histogram(
    "switchboard_queue_wait_seconds",
    "Time from a task's creation to the reservation an agent accepted",
    ["workspace_sid", "queue_sid"],
    buckets=WAIT_BUCKETS,
)
RESERVATIONS = Counter(
    "switchboard_reservations_total",
    "Reservation events by outcome (created, accepted, rejected, timeout, rescinded, canceled...)",
    ["outcome"],
)
SOCKET_CONNECTIONS = Gauge(
    "switchboard_socket_connections", "Open agent and customer WebSockets of this process", ["kind"]
)
SOCKET_FLOODS = Counter(
    "switchboard_socket_floods_total",
    "Sockets closed (1008) for sending commands past websocket_max_pending_commands",
    ["kind"],
)


def count_messages_in(channel_type: str, stored_keys: list[str]) -> None:
    """Count the provider messages among keys just stored for the first time. Counting where a
    message is stored, not where the webhook takes it, counts a provider's retry of a message
    already taken (same message id) once: the store keeps one row per key."""
    provider_messages = sum(1 for key in stored_keys if key.startswith(PROVIDER_MESSAGE_KEY_PREFIXES))
    if provider_messages:
        MESSAGES_IN.labels(channel_type).inc(provider_messages)


def serve_worker_metrics(settings: Settings) -> None:
    """A worker on its own serves its metrics on ``metrics_port`` (0: not at all)."""
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)


@cache
def _runtime(address: str) -> Runtime:
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


def temporal_runtime(settings: Settings) -> Runtime | None:
    """The Temporal SDK runtime exporting its own metrics (polls, task latencies, slots) on
    ``temporal_metrics_address``; None: the SDK's default runtime, without. One per process,
    however many clients it connects."""
    return _runtime(settings.temporal_metrics_address) if settings.temporal_metrics_address else None


# --- logs ------------------------------------------------------------------------------------

# The channel and task a piece of API work is about, set where a request or command names them.
CHANNEL_SID: contextvars.ContextVar[str | None] = contextvars.ContextVar("channel_sid", default=None)
TASK_SID: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_sid", default=None)


class ConversationContext(logging.Filter):
    """Adds ``channel_sid`` and ``task_sid`` to every record: from the context variables in the
    API, from the Temporal workflow or activity a worker's line comes from (a channel's workflow
    id is its SID)."""

    def filter(self, record: logging.LogRecord) -> bool:
        channel, task = CHANNEL_SID.get(), TASK_SID.get()
        temporal: dict[str, Any] = (
            getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None) or {}
        )
        workflow_id = str(temporal.get("workflow_id") or "")
        if channel is None and workflow_id.startswith("CH"):
            channel = workflow_id
        record.channel_sid = channel
        record.task_sid = task
        return True


def configure_logging(settings: Settings, default_level: str = "INFO") -> None:
    """Logs to stderr, as text or (``log_format=json``) one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ConversationContext())
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}{channel_sid}{task_sid}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=(settings.log_level or default_level).upper(), handlers=[handler], force=True)
