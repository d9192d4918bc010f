"""A channel's routing tasks: the task its conversation is with, and creating one (for the channel's
``task`` integration, an agent reaching out, or a Studio flow's send-to-flex)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import activity_options, sids
from workflows.failures import failure_message
from workflows.messages import ChannelConfig, CreateTask

with workflow.unsafe.imports_passed_through():
    from activities.routing import RoutingActivities


class ChannelTasks:
    def __init__(self, config: ChannelConfig, open_task_sid: str | None, changed: Callable[[], None]) -> None:
        self.config = config
        # The task the conversation is with (carried across continue-as-new).
        self.open_task_sid = open_task_sid
        # The integration's task being created.
        self.creation: asyncio.Task[None] | None = None
        self.changed = changed

    async def create(
        self,
        workspace_sid: str,
        workflow_sid: str,
        channel: str,
        attributes: str,
        priority: int,
        task_timeout: int,
        only_worker: str | None = None,
    ) -> tuple[str | None, str]:
        """The new task's SID, or None and why it could not be created."""
        task_sid = sids.sid_from_uuid("WT", workflow.uuid4())
        spec = CreateTask(
            task_sid,
            workspace_sid,
            workflow_sid,
            channel,
            attributes,
            priority,
            task_timeout,
            self.config.channel_sid,
            only_worker,
        )
        try:
            await workflow.execute_local_activity_method(RoutingActivities.create_task, spec, **activity_options.STORE)
        except (ActivityError, ApplicationError) as exc:
            return None, failure_message(exc)
        self.open_task_sid = task_sid
        self.changed()
        return task_sid, ""

    def start_for_integration(self) -> None:
        """The channel's ``task`` integration creates the conversation's task, unless it has one
        or one is being created."""
        integration = self.config.integration
        if integration is None or self.open_task_sid is not None or self.creation is not None:
            return

        async def create() -> None:
            try:
                await self.create(
                    integration.workspace_sid or "",
                    integration.workflow_sid or "",
                    integration.channel or "default",
                    self._attributes(),
                    integration.priority,
                    integration.timeout,
                )
            finally:
                self.creation = None

        self.creation = asyncio.create_task(create())

    def _attributes(self) -> str:
        """Flex's attributes of a task for this conversation."""
        config = self.config
        attributes: dict[str, Any] = {
            "name": config.contact_name or config.contact_address or config.friendly_name or config.channel_sid,
            "channelType": config.channel_type,
            "channelSid": config.channel_sid,
        }
        if config.contact_address:
            attributes["from"] = config.contact_address
        if config.pre_engagement_data:
            attributes["pre_engagement_data"] = json.loads(config.pre_engagement_data)
        if config.task_attributes:
            attributes.update(json.loads(config.task_attributes))
        return json.dumps(attributes)
