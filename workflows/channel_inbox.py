"""A channel's messages on their way to the store: pending ones in arrival order, keys of recently
stored ones (a provider's retry is dropped without an activity), and the results update callers
wait for."""

from __future__ import annotations

from collections import OrderedDict

from workflows.messages import CarriedState, InboundMessage, StoredMessage

# Keys of recently stored messages kept in memory, to drop fast retries without an activity.
RECENT_KEYS = 256


class Inbox:
    def __init__(self, carried: CarriedState | None) -> None:
        self.pending: list[InboundMessage] = list(carried.pending) if carried else []
        self.pending_keys = {m.key for m in self.pending}
        self.recent: OrderedDict[str, None] = OrderedDict.fromkeys(carried.recent_keys if carried else [])
        # Results of messages an update caller is waiting for.
        self.awaited: set[str] = set()
        self.results: dict[str, StoredMessage] = {}

    def accept(self, message: InboundMessage) -> None:
        if message.key in self.recent or message.key in self.pending_keys:
            return
        self.pending.append(message)
        self.pending_keys.add(message.key)

    def remember(self, key: str) -> None:
        self.recent[key] = None
        self.recent.move_to_end(key)
        while len(self.recent) > RECENT_KEYS:
            self.recent.popitem(last=False)

    def take(self, limit: int) -> list[InboundMessage]:
        batch = self.pending[:limit]
        del self.pending[:limit]
        for message in batch:
            self.pending_keys.discard(message.key)
        return batch
