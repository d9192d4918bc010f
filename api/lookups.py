"""What a provider webhook looks up on every message and what rarely changes, kept in the API
process's memory: the Flex Flow serving an address (or named by SID) and a contact's current
channel (its SID, and the webhooks and attributes a caller set on it).

Invalidation: a committed change to a Flex Flow, to a contact's row or to what their channel gives
a webhook publishes a key (``store.fanout``) from whichever process made it (an API replica, a
worker's activity). This process hears its own loop's commits at once and other processes' over
its subscription (Redis, or a PostgreSQL store's notifications without Redis), and drops what the
key names. Staleness is bounded all the same:

- a Flex Flow is trusted for ``lookup_cache_seconds`` at most, Redis or not: a disabled flow must
  stop taking messages, and a lost invalidation (Redis down, a publisher cut off) must not keep it
  taking them for long. Flows are shared by all of an address's contacts, so even a short life
  saves nearly every lookup under load;
- a contact's channel (its SID, and the webhooks and attributes a caller set on it) is trusted
  for ``lookup_cache_seconds`` when invalidations may be missed (no subscription: Redis's, or a
  PostgreSQL store's notifications) and for ``SUBSCRIBED_SECONDS`` while the subscription is up; the
  cache empties when the subscription is (re)established. A stale contact channel is safe: a
  closed channel hands messages and refusals on to its successor (``workflows.channel_handover``),
  and its webhooks and attributes only matter to a run that starts meanwhile, as a read just
  before the change would.

A lookup that started before an invalidation does not store its answer (it may have read the row
before the change): generations count the invalidations."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from switchboard.store.models import FlexFlow

V = TypeVar("V")

# A contact's channel, while invalidations arrive over a live subscription.
SUBSCRIBED_SECONDS = 300.0
# Entries of each kind; the least recently used go first.
MAX_ENTRIES = 50_000
FLEX_FLOW_PREFIX = "flexflow:"
CONTACT_PREFIX = "contact:"


@dataclass(frozen=True)
class ContactChannel:
    """A contact's current channel: its SID, the webhooks a caller set on it (JSON), which it runs
    instead of its Flex Flow's integration, and the attributes a caller wrote on it (encrypted as
    stored), which outlive its close; None for a channel that does not exist yet or a closed
    short-lived one (its successor starts afresh), or that a caller did not change."""

    channel_sid: str
    webhooks_json: str | None
    attributes_enc: str | None


@dataclass(frozen=True)
class Entry(Generic[V]):
    stored_at: float
    value: V


class Entries(Generic[V]):
    """One kind of entry: bounded, least recently used first out, with a generation that every
    invalidation of this kind moves on."""

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[Hashable, Entry[V]] = OrderedDict()
        self._max = max_entries
        self.generation = 0

    def fresh(self, key: Hashable, now: float, seconds: float) -> Entry[V] | None:
        entry = self._entries.get(key)
        if entry is None or now - entry.stored_at >= seconds:
            return None
        self._entries.move_to_end(key)
        return entry

    def store(self, key: Hashable, value: V, now: float, generation: int) -> None:
        if generation != self.generation:
            return  # read before an invalidation: possibly the old row
        self._entries[key] = Entry(now, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def drop(self, key: Hashable | None = None) -> None:
        """Drop ``key``'s entry, or every entry."""
        self.generation += 1
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


def detached(flow: FlexFlow | None) -> FlexFlow | None:
    """A copy in no session: shared by requests, never expired or flushed by one of them."""
    return None if flow is None else FlexFlow.model_validate(flow.model_dump())


class LookupCache:
    def __init__(
        self, seconds: float, subscribed: Callable[[], bool] = lambda: False, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.seconds = seconds
        self._subscribed = subscribed
        self.flows: Entries[FlexFlow | None] = Entries(max_entries)
        self.contacts: Entries[ContactChannel] = Entries(max_entries)

    def _contact_seconds(self) -> float:
        return max(self.seconds, SUBSCRIBED_SECONDS) if self._subscribed() else self.seconds

    async def flow(self, key: tuple[str, str], load: Callable[[], Awaitable[FlexFlow | None]]) -> FlexFlow | None:
        """The Flex Flow ``load`` answers for ``key`` (a channel type and address, or ``("sid",
        sid)``), or None; from memory while fresh. The flow returned is shared: read it only."""
        now = time.monotonic()
        entry = self.flows.fresh(key, now, self.seconds)
        if entry is not None:
            return entry.value
        generation = self.flows.generation
        flow = detached(await load())
        if self.seconds > 0:
            self.flows.store(key, flow, now, generation)
        return flow

    async def contact_channel(
        self, key: tuple[str, str], load: Callable[[], Awaitable[ContactChannel]]
    ) -> ContactChannel:
        """The current channel of the contact ``key`` (Flex Flow SID, address hash)."""
        now = time.monotonic()
        entry = self.contacts.fresh(key, now, self._contact_seconds())
        if entry is not None:
            return entry.value
        generation = self.contacts.generation
        channel = await load()
        if self.seconds > 0:
            self.contacts.store(key, channel, now, generation)
        return channel

    def invalidate(self, keys: Iterable[str] | None) -> None:
        """Drop what ``keys`` name (``store.fanout``'s keys; others are ignored); None drops all."""
        if keys is None:
            self.flows.drop()
            self.contacts.drop()
            return
        for key in keys:
            if key.startswith(FLEX_FLOW_PREFIX):
                # A flow's old address and its new one are both affected: all flows go.
                self.flows.drop()
            elif key.startswith(CONTACT_PREFIX):
                flex_flow_sid, _, address_hash = key[len(CONTACT_PREFIX) :].partition(":")
                self.contacts.drop((flex_flow_sid, address_hash))
