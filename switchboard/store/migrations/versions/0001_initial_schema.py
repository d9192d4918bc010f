"""The schema as create_all made it before migrations existed: every table of store.models.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 09:03:08.333276
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("worker_sid", AutoString(length=34), nullable=False),
        sa.Column("kind", AutoString(), nullable=False),
        sa.Column("channel_sid", AutoString(), nullable=True),
        sa.Column("payload_enc", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_agent_feed_worker_sid"), "agent_feed", ["worker_sid"], unique=False)
    op.create_table(
        "channel_agent",
        sa.Column("channel_sid", AutoString(length=34), nullable=False),
        sa.Column("worker_sid", AutoString(length=34), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_sid", "worker_sid"),
    )
    op.create_index(op.f("ix_channel_agent_worker_sid"), "channel_agent", ["worker_sid"], unique=False)
    op.create_table(
        "contact",
        sa.Column("flex_flow_sid", AutoString(length=34), nullable=False),
        sa.Column("address_hash", AutoString(length=64), nullable=False),
        sa.Column("address_enc", AutoString(), nullable=False),
        sa.Column("current_channel_sid", AutoString(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("flex_flow_sid", "address_hash"),
    )
    op.create_table(
        "customer_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_sid", AutoString(length=34), nullable=False),
        sa.Column("kind", AutoString(), nullable=False),
        sa.Column("payload_enc", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_customer_feed_channel_sid"), "customer_feed", ["channel_sid"], unique=False)
    op.create_table(
        "integration_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flex_flow_sid", AutoString(), nullable=True),
        sa.Column("channel_sid", AutoString(), nullable=False),
        sa.Column("message_sid", AutoString(), nullable=False),
        sa.Column("url", AutoString(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_integration_failure_flex_flow_sid"), "integration_failure", ["flex_flow_sid"], unique=False
    )
    op.create_table(
        "media",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("channel_sid", AutoString(length=34), nullable=False),
        sa.Column("uploaded_by_enc", AutoString(), nullable=False),
        sa.Column("content_type", AutoString(), nullable=False),
        sa.Column("filename_enc", AutoString(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_enc", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_media_channel_sid"), "media", ["channel_sid"], unique=False)
    op.create_table(
        "message_delivery",
        sa.Column("message_sid", AutoString(length=34), nullable=False),
        sa.Column("channel_sid", AutoString(length=34), nullable=False),
        sa.Column("provider", AutoString(), nullable=False),
        sa.Column("provider_sid", AutoString(), nullable=True),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", AutoString(), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_sid"),
    )
    op.create_index(op.f("ix_message_delivery_channel_sid"), "message_delivery", ["channel_sid"], unique=False)
    op.create_index(op.f("ix_message_delivery_provider_sid"), "message_delivery", ["provider_sid"], unique=True)
    op.create_table(
        "reservation",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("task_sid", AutoString(length=34), nullable=False),
        sa.Column("worker_sid", AutoString(length=34), nullable=False),
        sa.Column("reservation_status", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_reservation_task_sid"), "reservation", ["task_sid"], unique=False)
    op.create_index(op.f("ix_reservation_worker_sid"), "reservation", ["worker_sid"], unique=False)
    op.create_index(op.f("ix_reservation_workspace_sid"), "reservation", ["workspace_sid"], unique=False)
    op.create_table(
        "service",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("friendly_name", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_table(
        "studio_execution",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("flow_sid", AutoString(length=34), nullable=False),
        sa.Column("flow_revision", sa.Integer(), nullable=False),
        sa.Column("channel_sid", AutoString(), nullable=True),
        sa.Column("contact_channel_address_enc", AutoString(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("context_enc", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_studio_execution_channel_sid"), "studio_execution", ["channel_sid"], unique=False)
    op.create_index(op.f("ix_studio_execution_flow_sid"), "studio_execution", ["flow_sid"], unique=False)
    op.create_table(
        "studio_flow",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("friendly_name", AutoString(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_table(
        "studio_step",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("execution_sid", AutoString(length=34), nullable=False),
        sa.Column("flow_sid", AutoString(length=34), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", AutoString(), nullable=False),
        sa.Column("transitioned_from", AutoString(), nullable=False),
        sa.Column("transitioned_to", AutoString(), nullable=False),
        sa.Column("context_enc", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_studio_step_execution_sid"), "studio_step", ["execution_sid"], unique=False)
    op.create_table(
        "task",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("workflow_sid", AutoString(length=34), nullable=False),
        sa.Column("task_channel_unique_name", AutoString(), nullable=False),
        sa.Column("attributes_enc", AutoString(), nullable=False),
        sa.Column("assignment_status", AutoString(), nullable=False),
        sa.Column("reason", AutoString(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("channel_sid", AutoString(), nullable=True),
        sa.Column("task_queue_sid", AutoString(length=34), nullable=True),
        sa.Column("task_queue_entered_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_task_channel_sid"), "task", ["channel_sid"], unique=False)
    op.create_index(op.f("ix_task_task_queue_sid"), "task", ["task_queue_sid"], unique=False)
    op.create_index(op.f("ix_task_workspace_sid"), "task", ["workspace_sid"], unique=False)
    op.create_table(
        "taskrouter_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("event_type", AutoString(), nullable=False),
        sa.Column("description", AutoString(), nullable=False),
        sa.Column("resource_type", AutoString(), nullable=False),
        sa.Column("resource_sid", AutoString(), nullable=False),
        sa.Column("task_sid", AutoString(), nullable=True),
        sa.Column("worker_sid", AutoString(), nullable=True),
        sa.Column("reservation_sid", AutoString(), nullable=True),
        sa.Column("queue_sid", AutoString(), nullable=True),
        sa.Column("workflow_sid", AutoString(), nullable=True),
        sa.Column("data_json", AutoString(), nullable=False),
        sa.Column("event_date", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sid"),
    )
    op.create_index(op.f("ix_taskrouter_event_event_type"), "taskrouter_event", ["event_type"], unique=False)
    op.create_index(op.f("ix_taskrouter_event_task_sid"), "taskrouter_event", ["task_sid"], unique=False)
    op.create_index(op.f("ix_taskrouter_event_worker_sid"), "taskrouter_event", ["worker_sid"], unique=False)
    op.create_index(op.f("ix_taskrouter_event_workspace_sid"), "taskrouter_event", ["workspace_sid"], unique=False)
    op.create_table(
        "workspace",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("friendly_name", AutoString(), nullable=False),
        sa.Column("event_callback_url", AutoString(), nullable=True),
        sa.Column("events_filter", AutoString(), nullable=True),
        sa.Column("default_activity_sid", AutoString(length=34), nullable=True),
        sa.Column("timeout_activity_sid", AutoString(length=34), nullable=True),
        sa.Column("multi_task_enabled", sa.Boolean(), nullable=False),
        sa.Column("prioritize_queue_order", AutoString(), nullable=False),
        sa.Column("template", AutoString(), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_table(
        "channel",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("service_sid", AutoString(), nullable=False),
        sa.Column("friendly_name_enc", AutoString(), nullable=True),
        sa.Column("unique_name", AutoString(), nullable=True),
        sa.Column("attributes_enc", AutoString(), nullable=False),
        sa.Column("type", AutoString(), nullable=False),
        sa.Column("created_by", AutoString(), nullable=False),
        sa.Column("flex_flow_sid", AutoString(), nullable=True),
        sa.Column("channel_type", AutoString(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("long_lived", sa.Boolean(), nullable=False),
        sa.Column("contact_hash", AutoString(), nullable=True),
        sa.Column("members_count", sa.Integer(), nullable=False),
        sa.Column("messages_count", sa.Integer(), nullable=False),
        sa.Column("last_message_index", sa.Integer(), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_sid"],
            ["service.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("service_sid", "unique_name"),
    )
    op.create_index(op.f("ix_channel_flex_flow_sid"), "channel", ["flex_flow_sid"], unique=False)
    op.create_index(op.f("ix_channel_service_sid"), "channel", ["service_sid"], unique=False)
    op.create_table(
        "flex_flow",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("friendly_name", AutoString(), nullable=False),
        sa.Column("chat_service_sid", AutoString(), nullable=False),
        sa.Column("channel_type", AutoString(), nullable=False),
        sa.Column("contact_identity", AutoString(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("integration_type", AutoString(), nullable=True),
        sa.Column("integration_json", AutoString(), nullable=False),
        sa.Column("long_lived", sa.Boolean(), nullable=False),
        sa.Column("janitor_enabled", sa.Boolean(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_service_sid"],
            ["service.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_flex_flow_chat_service_sid"), "flex_flow", ["chat_service_sid"], unique=False)
    op.create_index(op.f("ix_flex_flow_contact_identity"), "flex_flow", ["contact_identity"], unique=False)
    op.create_table(
        "routing_workflow",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("friendly_name", AutoString(), nullable=False),
        sa.Column("configuration", AutoString(), nullable=False),
        sa.Column("assignment_callback_url", AutoString(), nullable=True),
        sa.Column("fallback_assignment_callback_url", AutoString(), nullable=True),
        sa.Column("task_reservation_timeout", sa.Integer(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_sid"],
            ["workspace.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_routing_workflow_workspace_sid"), "routing_workflow", ["workspace_sid"], unique=False)
    op.create_table(
        "studio_flow_revision",
        sa.Column("flow_sid", AutoString(length=34), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("friendly_name", AutoString(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("commit_message", AutoString(), nullable=True),
        sa.Column("definition_json", AutoString(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("errors_json", AutoString(), nullable=False),
        sa.Column("warnings_json", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_sid"],
            ["studio_flow.sid"],
        ),
        sa.PrimaryKeyConstraint("flow_sid", "revision"),
    )
    op.create_table(
        "task_channel",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("friendly_name", AutoString(), nullable=False),
        sa.Column("unique_name", AutoString(), nullable=False),
        sa.Column("channel_optimized_routing", sa.Boolean(), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_sid"],
            ["workspace.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("workspace_sid", "unique_name"),
    )
    op.create_index(op.f("ix_task_channel_workspace_sid"), "task_channel", ["workspace_sid"], unique=False)
    op.create_table(
        "task_queue",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("friendly_name", AutoString(), nullable=False),
        sa.Column("target_workers", AutoString(), nullable=False),
        sa.Column("task_order", AutoString(), nullable=False),
        sa.Column("max_reserved_workers", sa.Integer(), nullable=False),
        sa.Column("reservation_activity_sid", AutoString(length=34), nullable=True),
        sa.Column("assignment_activity_sid", AutoString(length=34), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_sid"],
            ["workspace.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_task_queue_workspace_sid"), "task_queue", ["workspace_sid"], unique=False)
    op.create_table(
        "worker",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("friendly_name", AutoString(), nullable=False),
        sa.Column("attributes_enc", AutoString(), nullable=False),
        sa.Column("activity_sid", AutoString(length=34), nullable=False),
        sa.Column("activity_name", AutoString(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("date_status_changed", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_sid"],
            ["workspace.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("workspace_sid", "friendly_name"),
    )
    op.create_index(op.f("ix_worker_workspace_sid"), "worker", ["workspace_sid"], unique=False)
    op.create_table(
        "workspace_activity",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("friendly_name", AutoString(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_sid"],
            ["workspace.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_workspace_activity_workspace_sid"), "workspace_activity", ["workspace_sid"], unique=False)
    op.create_table(
        "member",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("channel_sid", AutoString(), nullable=False),
        sa.Column("service_sid", AutoString(), nullable=False),
        sa.Column("identity_enc", AutoString(), nullable=False),
        sa.Column("identity_hash", AutoString(), nullable=False),
        sa.Column("role_sid", AutoString(), nullable=True),
        sa.Column("attributes_enc", AutoString(), nullable=False),
        sa.Column("last_consumed_message_index", sa.Integer(), nullable=True),
        sa.Column("last_consumption_timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_sid"],
            ["channel.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("channel_sid", "identity_hash"),
    )
    op.create_table(
        "message",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("channel_sid", AutoString(), nullable=False),
        sa.Column("service_sid", AutoString(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("message_key", AutoString(), nullable=False),
        sa.Column("author_enc", AutoString(), nullable=False),
        sa.Column("body_enc", AutoString(), nullable=True),
        sa.Column("attributes_enc", AutoString(), nullable=False),
        sa.Column("media_enc", AutoString(), nullable=True),
        sa.Column("type", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_sid"],
            ["channel.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("channel_sid", "index"),
        sa.UniqueConstraint("service_sid", "message_key"),
    )
    op.create_table(
        "worker_channel",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("worker_sid", AutoString(length=34), nullable=False),
        sa.Column("task_channel_sid", AutoString(length=34), nullable=False),
        sa.Column("task_channel_unique_name", AutoString(), nullable=False),
        sa.Column("configured_capacity", sa.Integer(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["worker_sid"],
            ["worker.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("worker_sid", "task_channel_sid"),
    )
    op.create_index(op.f("ix_worker_channel_worker_sid"), "worker_channel", ["worker_sid"], unique=False)
    op.create_index(op.f("ix_worker_channel_workspace_sid"), "worker_channel", ["workspace_sid"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_worker_channel_workspace_sid"), table_name="worker_channel")
    op.drop_index(op.f("ix_worker_channel_worker_sid"), table_name="worker_channel")
    op.drop_table("worker_channel")
    op.drop_table("message")
    op.drop_table("member")
    op.drop_index(op.f("ix_workspace_activity_workspace_sid"), table_name="workspace_activity")
    op.drop_table("workspace_activity")
    op.drop_index(op.f("ix_worker_workspace_sid"), table_name="worker")
    op.drop_table("worker")
    op.drop_index(op.f("ix_task_queue_workspace_sid"), table_name="task_queue")
    op.drop_table("task_queue")
    op.drop_index(op.f("ix_task_channel_workspace_sid"), table_name="task_channel")
    op.drop_table("task_channel")
    op.drop_table("studio_flow_revision")
    op.drop_index(op.f("ix_routing_workflow_workspace_sid"), table_name="routing_workflow")
    op.drop_table("routing_workflow")
    op.drop_index(op.f("ix_flex_flow_contact_identity"), table_name="flex_flow")
    op.drop_index(op.f("ix_flex_flow_chat_service_sid"), table_name="flex_flow")
    op.drop_table("flex_flow")
    op.drop_index(op.f("ix_channel_service_sid"), table_name="channel")
    op.drop_index(op.f("ix_channel_flex_flow_sid"), table_name="channel")
    op.drop_table("channel")
    op.drop_table("workspace")
    op.drop_index(op.f("ix_taskrouter_event_workspace_sid"), table_name="taskrouter_event")
    op.drop_index(op.f("ix_taskrouter_event_worker_sid"), table_name="taskrouter_event")
    op.drop_index(op.f("ix_taskrouter_event_task_sid"), table_name="taskrouter_event")
    op.drop_index(op.f("ix_taskrouter_event_event_type"), table_name="taskrouter_event")
    op.drop_table("taskrouter_event")
    op.drop_index(op.f("ix_task_workspace_sid"), table_name="task")
    op.drop_index(op.f("ix_task_task_queue_sid"), table_name="task")
    op.drop_index(op.f("ix_task_channel_sid"), table_name="task")
    op.drop_table("task")
    op.drop_index(op.f("ix_studio_step_execution_sid"), table_name="studio_step")
    op.drop_table("studio_step")
    op.drop_table("studio_flow")
    op.drop_index(op.f("ix_studio_execution_flow_sid"), table_name="studio_execution")
    op.drop_index(op.f("ix_studio_execution_channel_sid"), table_name="studio_execution")
    op.drop_table("studio_execution")
    op.drop_table("service")
    op.drop_index(op.f("ix_reservation_workspace_sid"), table_name="reservation")
    op.drop_index(op.f("ix_reservation_worker_sid"), table_name="reservation")
    op.drop_index(op.f("ix_reservation_task_sid"), table_name="reservation")
    op.drop_table("reservation")
    op.drop_index(op.f("ix_message_delivery_provider_sid"), table_name="message_delivery")
    op.drop_index(op.f("ix_message_delivery_channel_sid"), table_name="message_delivery")
    op.drop_table("message_delivery")
    op.drop_index(op.f("ix_media_channel_sid"), table_name="media")
    op.drop_table("media")
    op.drop_index(op.f("ix_integration_failure_flex_flow_sid"), table_name="integration_failure")
    op.drop_table("integration_failure")
    op.drop_index(op.f("ix_customer_feed_channel_sid"), table_name="customer_feed")
    op.drop_table("customer_feed")
    op.drop_table("contact")
    op.drop_index(op.f("ix_channel_agent_worker_sid"), table_name="channel_agent")
    op.drop_table("channel_agent")
    op.drop_index(op.f("ix_agent_feed_worker_sid"), table_name="agent_feed")
    op.drop_table("agent_feed")
