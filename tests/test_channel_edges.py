"""The channel workflow's edge cases, fast: the real workflow on Temporal's time-skipping test
server, its activities replaced by in-memory fakes registered under the same names, so inactivity
timers fire at once and every race is arranged rather than waited for.

Covered: a message that races the inactivity close is kept (stored, or handed to the contact's
next channel, whichever the run saw); one arriving after the close goes to the contact's next
channel (short-lived) or reopens the channel (long-lived); a run that spent its message budget
continues as new carrying its queued posts and recent message keys, and waits for queued provider
deliveries first; a ``task`` integration creates the conversation's task once, the agent
joins, and the channel stays open while the task does."""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.helpers.channel_fakes import (
    BUSINESS,
    CUSTOMER,
    INACTIVITY,
    SERVICE,
    SUCCESSOR,
    FakeStore,
    channel_config,
    customer_says,
    open_channel,
    skipping,
    store,
    until,
)
from workflows.channel import ChannelWorkflow
from workflows.messages import (
    ChannelConfig,
    ChannelState,
    ChannelStatus,
    InboundMessage,
    Integration,
    MemberSpec,
    SetChannelStatus,
)

pytestmark = pytest.mark.fast
__all__ = ["skipping", "store"]  # the fixtures, from the fakes


def race_the_close(store: FakeStore, config: ChannelConfig, late: InboundMessage) -> None:
    """``late`` reaches the channel while its first close is being written: the signal lands
    in the workflow task that would otherwise end the run."""
    raced = False

    async def write_as_it_closes(req: SetChannelStatus) -> None:
        nonlocal raced
        if req.status == ChannelStatus.INACTIVE and not raced:
            raced = True
            await store.client.get_workflow_handle(config.channel_sid).signal(ChannelWorkflow.deliver, late)

    store.on_status = write_as_it_closes


async def state(client: Client, channel_sid: str) -> ChannelState:
    return await client.get_workflow_handle(channel_sid).query(ChannelWorkflow.state)


@pytest.mark.parametrize("long_lived", [False, True], ids=["short-lived", "long-lived"])
async def test_a_message_racing_the_close_is_kept(store: FakeStore, long_lived: bool) -> None:
    config = channel_config(long_lived=long_lived)
    race_the_close(store, config, customer_says("SM-late", "one more thing"))
    handle = await open_channel(store, config, customer_says("SM-1", "hello"))
    await handle.result()  # time skips past the inactivity timers

    # Stored here (the close had not been recorded by the run) or handed to the contact's next
    # channel, as the run saw it: either way once.
    kept = store.bodies(config.channel_sid) + store.forwarded_to(SUCCESSOR)
    assert sorted(kept, key=str) == ["hello", "one more thing"]
    assert store.statuses[-1] == ChannelStatus.INACTIVE


async def test_the_next_channel_does_not_inherit_what_a_caller_set_on_the_closed_one(store: FakeStore) -> None:
    """A Function named the closed channel and wrote its attributes: the contact's next channel
    starts as a new one (a unique name is the closed channel's alone: the successor's row could not
    be stored with it, and the messages handed on would be lost)."""
    config = channel_config(
        unique_name="order-77", friendly_name="Order 77", attributes='{"taskSid": "WT1"}', attributes_written=True
    )
    await (await open_channel(store, config, customer_says("SM-1", "hello"))).result()
    await (await open_channel(store, config, customer_says("SM-late", "one more thing"))).result()

    [handed] = store.forwarded
    assert handed.config.channel_sid == SUCCESSOR
    assert (handed.config.unique_name, handed.config.attributes_written, handed.config.attributes) == (
        None,
        False,
        None,
    )
    assert handed.config.friendly_name == CUSTOMER
    assert (handed.config.contact_address, handed.config.service_sid) == (CUSTOMER, SERVICE)


@pytest.mark.parametrize("long_lived", [False, True], ids=["short-lived", "long-lived"])
async def test_a_message_after_the_close(store: FakeStore, long_lived: bool) -> None:
    """A short-lived channel hands it to the contact's next channel; a long-lived one reopens."""
    config = channel_config(long_lived=long_lived)
    await (await open_channel(store, config, customer_says("SM-1", "hello"))).result()
    assert store.statuses == [ChannelStatus.INACTIVE]

    await (await open_channel(store, config, customer_says("SM-late", "one more thing"))).result()

    if long_lived:
        assert store.bodies(config.channel_sid) == ["hello", "one more thing"]
        assert store.forwarded == []
        assert store.statuses == [ChannelStatus.INACTIVE, ChannelStatus.INACTIVE]
    else:
        assert store.bodies(config.channel_sid) == ["hello"]
        assert store.forwarded_to(SUCCESSOR) == ["one more thing"]
        assert store.statuses == [ChannelStatus.INACTIVE]


async def test_continue_as_new_carries_queued_posts_and_recent_keys(
    skipping: WorkflowEnvironment, store: FakeStore
) -> None:
    config = channel_config(
        channel_type="web",
        contact_address=None,
        run_message_budget=3,
        integration=Integration(type="external", url="https://bot.example.test/hook"),
    )
    client = skipping.client
    first = await open_channel(store, config, customer_says("SM-0", "m0"))
    # The first post is in flight (the outside world holds it) while the budget is spent.
    await until(lambda: _stored(store, config, 1), "the first message stored")
    for n in range(1, 5):
        await first.signal(ChannelWorkflow.deliver, customer_says(f"SM-{n}", f"m{n}"))
    await until(lambda: _stored(store, config, 5), "five messages stored")
    assert (await first.describe()).run_id == first.result_run_id, "continued while a post was in flight"

    store.outside_world.set()
    await until(lambda: _continued(client, config, first.result_run_id), "the run continued as new")
    # A provider's retry of a message stored before the continuation is known without the store.
    await first.signal(ChannelWorkflow.deliver, customer_says("SM-2", "m2"))
    await first.signal(ChannelWorkflow.deliver, customer_says("SM-5", "m5"))
    await until(lambda: _stored(store, config, 6), "the sixth message stored")
    await until(lambda: _posted(store, 6), "every message posted")

    assert [index for batch in store.posted for index in batch] == [0, 1, 2, 3, 4, 5]
    assert store.appended_keys.count("SM-2") == 1
    assert len(store.opened) == 1, "the continuation opened the channel again"
    current = await state(client, config.channel_sid)
    assert (current.messages_count, current.last_index) == (6, 5)


async def test_continue_as_new_waits_for_queued_deliveries(skipping: WorkflowEnvironment, store: FakeStore) -> None:
    config = channel_config(run_message_budget=2, flow_address=BUSINESS)
    client = skipping.client
    first = await open_channel(store, config, customer_says("SM-0", "hi"))
    for n in range(1, 4):
        agent_says = InboundMessage(key=f"agent-{n}", author="agent", body=f"answer {n}", runs_integration=False)
        await first.signal(ChannelWorkflow.deliver, agent_says)
    await until(lambda: _stored(store, config, 4), "four messages stored")
    assert (await first.describe()).run_id == first.result_run_id, "continued with deliveries queued"

    store.outside_world.set()
    await until(lambda: _continued(client, config, first.result_run_id), "the run continued as new")

    agents = [m.sid for m in store.messages[config.channel_sid] if m.message.author == "agent"]
    assert store.delivered == agents


async def test_a_task_integration_creates_one_task_and_the_agent_joins(
    skipping: WorkflowEnvironment, store: FakeStore
) -> None:
    config = channel_config(
        integration=Integration(type="task", workspace_sid="WS" + "1" * 32, workflow_sid="WW" + "2" * 32)
    )
    client = skipping.client
    handle = await open_channel(store, config, customer_says("SM-0", "hello"))
    for n in range(1, 3):
        await handle.signal(ChannelWorkflow.deliver, customer_says(f"SM-{n}", f"still there {n}"))
    await until(lambda: _stored(store, config, 3), "three messages stored")
    await until(lambda: _task_open(client, config), "the task recorded by the channel")
    [task] = store.tasks
    assert task.channel_sid == config.channel_sid
    assert (await state(client, config.channel_sid)).open_task_sid == task.task_sid

    joined = await handle.execute_update(ChannelWorkflow.add_member, MemberSpec("alice"))
    assert joined.identity == "alice" and not joined.existing
    assert [m.identity for m in (await state(client, config.channel_sid)).members] == ["alice"]

    # The agent's conversation holds the channel open past its inactivity limit.
    await skipping.sleep(INACTIVITY * 3)
    assert (await state(client, config.channel_sid)).status == ChannelStatus.ACTIVE
    await handle.signal(ChannelWorkflow.task_ended, task.task_sid)
    await handle.result()
    assert store.statuses == [ChannelStatus.INACTIVE]
    assert len(store.tasks) == 1


async def _stored(store: FakeStore, config: ChannelConfig, count: int) -> bool:
    return len(store.messages.get(config.channel_sid, [])) >= count


async def _posted(store: FakeStore, count: int) -> bool:
    return sum(len(batch) for batch in store.posted) >= count


async def _continued(client: Client, config: ChannelConfig, first_run_id: str | None) -> bool:
    return (await client.get_workflow_handle(config.channel_sid).describe()).run_id != first_run_id


async def _task_open(client: Client, config: ChannelConfig) -> bool:
    return (await state(client, config.channel_sid)).open_task_sid is not None
