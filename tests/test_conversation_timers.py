"""Conversations' state and timers in the channel workflow, fast: the real workflow on Temporal's
time-skipping test server with in-memory activities (``tests/helpers/channel_fakes.py``).

Covered: ``Timers.Inactive`` makes a quiet conversation inactive and ``Timers.Closed`` closes it,
both counting from the last message (a message resets them); a message racing the inactive
boundary is stored once and reactivates the conversation; messages racing a close (by REST or by
the closed timer) are each stored once, in order, or refused as Conversations refuses a closed
conversation, never half-accepted; a closed conversation stays closed for every later caller, its
routing task is ended, and a caller's changes are applied in order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WithStartWorkflowOperation, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.helpers.channel_fakes import FakeStore, channel_config, skipping, store, until
from workflows.channel import ChannelWorkflow
from workflows.messages import (
    ChannelConfig,
    ChannelInput,
    ChannelStatus,
    ConversationTimers,
    ConversationUpdate,
    InboundMessage,
    Integration,
    Origin,
    SetChannelStatus,
    StoredMessage,
)

pytestmark = pytest.mark.fast
__all__ = ["skipping", "store"]  # the fixtures, from the fakes

INACTIVE = 60.0
CLOSED = 600.0


def conversation(**fields: Any) -> ChannelConfig:
    """A conversation made over REST: long-lived, no contact, its own timers."""
    values: dict[str, Any] = {
        "channel_type": "chat",
        "long_lived": True,
        "contact_address": None,
        "timers": ConversationTimers(inactive=INACTIVE, closed=CLOSED),
    }
    values.update(fields)
    return channel_config(**values)


def says(body: str) -> InboundMessage:
    return InboundMessage(key=f"rest:{uuid.uuid4().hex}", author="alice", body=body, runs_integration=False)


async def start(store: FakeStore, config: ChannelConfig, first: InboundMessage) -> WorkflowHandle[Any, Any]:
    """A REST caller's first message (update-with-start's run, signalled here)."""
    return await store.client.start_workflow(
        ChannelWorkflow.run,
        ChannelInput(config, Origin.API),
        id=config.channel_sid,
        task_queue=store.task_queue,
        start_signal="deliver",
        start_signal_args=[first],
    )


async def post(handle: WorkflowHandle[Any, Any], message: InboundMessage) -> StoredMessage | ApplicationError:
    """A REST post to the running run: the stored message, or the channel's refusal."""
    try:
        return await handle.execute_update(ChannelWorkflow.post_message, message)
    except WorkflowUpdateFailedError as exc:
        assert isinstance(exc.cause, ApplicationError), exc.cause
        return exc.cause


def with_start(store: FakeStore, config: ChannelConfig, origin: Origin) -> WithStartWorkflowOperation[Any, Any]:
    return WithStartWorkflowOperation(
        ChannelWorkflow.run,
        ChannelInput(config, origin),
        id=config.channel_sid,
        task_queue=store.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def later_refusal(store: FakeStore, config: ChannelConfig, update: Any, arg: Any, origin: Origin) -> str:
    """An update as a REST caller sends it later (update-with-start: a new run if none is open):
    the type of the channel's refusal."""
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await store.client.execute_update_with_start_workflow(
            update, arg, start_workflow_operation=with_start(store, config, origin)
        )
    assert isinstance(raised.value.cause, ApplicationError)
    return str(raised.value.cause.type)


def state_events(store: FakeStore, channel_sid: str) -> list[tuple[str, str, str]]:
    """The ``onConversationStateUpdated`` events the channel posted: (from, to, reason)."""
    return [
        (form["StateFrom"], form["StateTo"], form["Reason"])
        for sid, event_type, form in store.events
        if sid == channel_sid and event_type == "onConversationStateUpdated"
    ]


def is_closed_refusal(outcome: StoredMessage | ApplicationError) -> bool:
    return isinstance(outcome, ApplicationError) and outcome.type == "ConversationClosed"


async def test_inactive_then_closed_both_counting_from_the_last_message(
    skipping: WorkflowEnvironment, store: FakeStore
) -> None:
    store.now = skipping.get_current_time
    config = conversation()
    handle = await start(store, config, says("hello"))
    await until(lambda: _stored(store, config, 1), "the first message stored")
    await skipping.sleep(INACTIVE / 2)
    assert (await post(handle, says("still here"))).index == 1  # type: ignore[union-attr]
    await handle.result()  # time skips through both timers

    assert store.statuses == [ChannelStatus.INACTIVE, ChannelStatus.CLOSED]
    last_message = store.append_times[-1]
    inactive_at, closed_at = store.status_times
    # (The fakes read the server's clock a moment after the workflow's time: a second of slack.)
    assert timedelta(seconds=INACTIVE - 1) <= inactive_at - last_message < timedelta(seconds=INACTIVE + 5)
    assert timedelta(seconds=CLOSED - 1) <= closed_at - last_message < timedelta(seconds=CLOSED + 5)
    assert store.bodies(config.channel_sid) == ["hello", "still here"]
    # Each change is posted as Conversations' onConversationStateUpdated, by its timers.
    assert state_events(store, config.channel_sid) == [("active", "inactive", "TIMER"), ("inactive", "closed", "TIMER")]

    # Closed is final: a later post or change starts a run that refuses it, and stores nothing.
    post_message, change = ChannelWorkflow.post_message, ChannelWorkflow.update_conversation
    assert await later_refusal(store, config, post_message, says("too late"), Origin.API) == "ConversationClosed"
    assert await later_refusal(store, config, change, ConversationUpdate("active"), Origin.STATE) == (
        "ConversationClosed"
    )
    assert store.bodies(config.channel_sid) == ["hello", "still here"]


async def test_a_message_racing_the_inactive_boundary_is_stored_once_and_reactivates(
    skipping: WorkflowEnvironment, store: FakeStore
) -> None:
    config = conversation()
    late = says("one more thing")
    raced: list[bool] = []

    async def write_as_it_goes_inactive(req: SetChannelStatus) -> None:
        if req.status == ChannelStatus.INACTIVE and not raced:
            raced.append(True)
            await store.client.get_workflow_handle(config.channel_sid).signal(ChannelWorkflow.deliver, late)

    store.on_status = write_as_it_goes_inactive
    store.now = skipping.get_current_time
    handle = await start(store, config, says("hello"))
    await handle.result()

    assert store.bodies(config.channel_sid) == ["hello", "one more thing"]
    assert store.appended_keys.count(late.key) == 1
    # Inactive, active again with the message, then inactive and closed after it.
    assert store.statuses == [
        ChannelStatus.INACTIVE,
        ChannelStatus.ACTIVE,
        ChannelStatus.INACTIVE,
        ChannelStatus.CLOSED,
    ]
    assert store.status_times[-1] - store.append_times[-1] >= timedelta(seconds=CLOSED - 1)


@pytest.mark.parametrize("by", ["rest", "timer"])
async def test_messages_racing_the_close_are_stored_once_in_order_or_refused(
    skipping: WorkflowEnvironment, store: FakeStore, by: str
) -> None:
    """Posts fired at the close (with it, by REST; while its status is written, by timer) each
    come back stored, exactly once and in index order, or refused as closed with nothing
    stored: whichever the run saw first."""
    config = conversation()
    handle = await start(store, config, says("m0"))
    await until(lambda: _stored(store, config, 1), "the first message stored")
    racing = [says(f"r{n}") for n in range(12)]
    posts: list[asyncio.Task[StoredMessage | ApplicationError]] = []

    async def post_as_it_closes(req: SetChannelStatus) -> None:
        if req.status == ChannelStatus.CLOSED and not posts:
            posts.extend(asyncio.create_task(post(handle, m)) for m in racing[6:])
            await asyncio.sleep(0.2)  # the posts reach the server while the close is written

    store.on_status = post_as_it_closes
    early = [asyncio.create_task(post(handle, m)) for m in racing[:6]]
    if by == "rest":
        close = asyncio.create_task(
            handle.execute_update(ChannelWorkflow.update_conversation, ConversationUpdate("closed"))
        )
        closed_state = await close
        assert closed_state.status == ChannelStatus.CLOSED
    await handle.result()
    await until(lambda: _all_done(posts), "the racing posts answered")
    outcomes = dict(
        zip([m.key for m in racing], [*(await asyncio.gather(*early)), *(t.result() for t in posts)], strict=True)
    )

    stored = store.messages[config.channel_sid]
    stored_keys = [m.message.key for m in stored]
    assert len(stored_keys) == len(set(stored_keys)), "a message stored twice"
    assert len(posts) == 6, "the close was raced"
    for key, outcome in outcomes.items():
        if isinstance(outcome, StoredMessage):
            assert stored_keys[outcome.index] == key  # answered where it is stored
        else:
            assert is_closed_refusal(outcome), outcome
            assert key not in stored_keys  # refused: nothing of it stored
    # Whatever the run saw first: stored before the close, or refused after it; none lost.
    assert [m.message.key for m in stored if m.message.key in outcomes] == [
        key for key, outcome in sorted(outcomes.items(), key=lambda o: _index(o[1])) if _index(outcome) >= 0
    ]
    assert store.statuses[-1] == ChannelStatus.CLOSED
    *_, (_, to, reason) = state_events(store, config.channel_sid)
    assert (to, reason) == ("closed", "API" if by == "rest" else "TIMER")


async def test_state_changes_by_rest_apply_in_order_and_closing_ends_the_routing(
    skipping: WorkflowEnvironment, store: FakeStore
) -> None:
    config = conversation(
        timers=None,
        inactivity_seconds=86400.0,
        integration=Integration(type="task", workspace_sid="WS" + "1" * 32, workflow_sid="WW" + "2" * 32),
    )
    handle = await start(store, config, InboundMessage(key="SM-0", author="customer", body="help"))
    await until(lambda: _task_created(store), "the task created")
    update = ChannelWorkflow.update_conversation
    assert (await handle.execute_update(update, ConversationUpdate("inactive"))).status == ChannelStatus.INACTIVE
    assert (await handle.execute_update(update, ConversationUpdate("active"))).status == ChannelStatus.ACTIVE
    timers = ConversationUpdate(timer_closed=CLOSED)
    assert (await handle.execute_update(update, timers)).status == ChannelStatus.ACTIVE
    assert store.timers[-1].timers == ConversationTimers(closed=CLOSED)

    # The closed timer does not wait for the agent: the conversation closes and its task ends.
    await handle.result()
    assert store.statuses == [ChannelStatus.INACTIVE, ChannelStatus.ACTIVE, ChannelStatus.CLOSED]
    assert state_events(store, config.channel_sid) == [
        ("active", "inactive", "API"),
        ("inactive", "active", "API"),
        ("active", "closed", "TIMER"),
    ]
    [task] = store.tasks
    assert [(r.channel_sid, r.task_sid) for r in store.routing_ended] == [(config.channel_sid, task.task_sid)]
    refused = await later_refusal(store, config, update, ConversationUpdate("active"), Origin.STATE)
    assert refused == "ConversationClosed"


async def test_an_inactive_conversation_changed_by_rest_stays_inactive(
    skipping: WorkflowEnvironment, store: FakeStore
) -> None:
    """Setting timers on a conversation whose run ended inactive does not reactivate it; its
    closed timer then closes it."""
    config = conversation(timers=None, inactivity_seconds=INACTIVE)
    first = await start(store, config, says("hello"))
    await first.result()
    assert store.statuses == [ChannelStatus.INACTIVE]

    state = await store.client.execute_update_with_start_workflow(
        ChannelWorkflow.update_conversation,
        ConversationUpdate(timer_closed=CLOSED),
        start_workflow_operation=with_start(store, config, Origin.STATE),
    )
    assert state.status == ChannelStatus.INACTIVE
    await skipping.sleep(CLOSED + 60)
    await until(lambda: _closed(store), "closed by its timer")
    assert store.statuses == [ChannelStatus.INACTIVE, ChannelStatus.CLOSED]


def _index(outcome: StoredMessage | ApplicationError) -> int:
    return outcome.index if isinstance(outcome, StoredMessage) else -1


async def _stored(store: FakeStore, config: ChannelConfig, count: int) -> bool:
    return len(store.messages.get(config.channel_sid, [])) >= count


async def _closed(store: FakeStore) -> bool:
    return bool(store.statuses) and store.statuses[-1] == ChannelStatus.CLOSED


async def _task_created(store: FakeStore) -> bool:
    return bool(store.tasks)


async def _all_done(tasks: list[asyncio.Task[Any]]) -> bool:
    return bool(tasks) and all(t.done() for t in tasks)
