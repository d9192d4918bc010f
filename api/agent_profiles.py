"""Agents' display names and pictures, as customers see them.

Flex keeps them in worker attributes: ``full_name`` ("Maya") and ``image_url``. An admin sets them
(TaskRouter's Workers ``Attributes``); ``checked_profile`` refuses, by field, a name that is not
short text and a picture that is not an https URL or a path on this site (never fetched by the
server: the widget's browser loads it).

The customer socket shows an agent by its display name wherever it would show its identity
(``CustomerView``): a message's ``from``, ``typing``, ``read``, ``member.joined`` and ``agent.left``'s
``identity`` and the ``ready`` frame's read horizons, with ``avatar_url`` beside it. An agent
without a ``full_name`` keeps its identity there, as before. REST (Chat's messages) and the agent
socket keep identities: they are Twilio's shape and the desk's keys.

A single sign-on token's ``name`` claim names a worker that has no ``full_name`` when its desk
connects (``adopt_claimed_name``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from sqlmodel import col, select

from api.deps import AppContext
from api.twilio_shape import invalid
from switchboard.store.contacts import worker_identity
from switchboard.store.crypto import Cipher
from switchboard.store.models import ChannelAgent, Worker

NAME_MAX_CHARS = 64
URL_MAX_CHARS = 2048
# The data field that names who did it, per customer event.
WHO = {
    "message": "from",
    "typing": "identity",
    "read": "identity",
    "member.joined": "identity",
    "agent.left": "identity",
}


@dataclass(frozen=True)
class AgentProfile:
    name: str
    avatar_url: str | None


def image_url_problem(value: Any) -> str | None:
    """Why ``value`` is no picture a page may show: only https URLs (without credentials) and
    paths on this site (``/media/maya.png``) are."""
    if not isinstance(value, str) or not value or len(value) > URL_MAX_CHARS or not value.isprintable():
        return f"must be an https URL or a path on this site, at most {URL_MAX_CHARS} characters"
    if " " in value or "\\" in value:
        return "must not contain spaces or backslashes"
    if value.startswith("/") and not value.startswith("//"):
        return None
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.hostname:
        return "must be an https URL or a path on this site (http, data and other schemes are refused)"
    if parsed.username is not None or parsed.password is not None:
        return "must not carry credentials"
    return None


def checked_profile(attributes: dict[str, Any]) -> None:
    """A 400 naming the attribute when a worker's ``full_name`` or ``image_url`` is not acceptable."""
    name = attributes.get("full_name")
    if name is not None and not (isinstance(name, str) and name.strip() and len(name) <= NAME_MAX_CHARS):
        raise invalid("Attributes.full_name", f"must be printable text of 1 to {NAME_MAX_CHARS} characters")
    image = attributes.get("image_url")
    if image is not None and (problem := image_url_problem(image)) is not None:
        raise invalid("Attributes.image_url", problem)


def profile_of(attributes: dict[str, Any]) -> AgentProfile | None:
    """The display name and picture a worker's attributes give, if they give a name."""
    name = attributes.get("full_name")
    if not isinstance(name, str) or not name.strip():
        return None
    image = attributes.get("image_url")
    return AgentProfile(name.strip(), image if image_url_problem(image) is None else None)


def display_fields(attributes: dict[str, Any]) -> dict[str, str | None]:
    """``display_name`` and ``avatar_url`` as the desk's lists show them (null when unset)."""
    profile = profile_of(attributes)
    return {
        "display_name": profile.name if profile else None,
        "avatar_url": profile.avatar_url if profile else None,
    }


async def adopt_claimed_name(context: AppContext, workspace_sid: str, worker_sid: str, name: str | None) -> None:
    """A single sign-on token's ``name`` claim becomes the worker's ``full_name`` when it has none
    (an admin's own choice is never overwritten), once it passes the same check."""
    name = name.strip() if name else ""
    if not name or len(name) > NAME_MAX_CHARS or not name.isprintable():
        return
    async with context.db.write_session() as session:
        worker = await session.get(Worker, worker_sid)
        if worker is None:
            return
        attributes = worker_attributes(context.cipher, worker)
        if attributes.get("full_name"):
            return
        attributes["full_name"] = name
        worker.attributes_enc = context.cipher.encrypt(json.dumps(attributes), "worker.attributes")
        session.add(worker)
        await session.commit()
    await context.routing.refresh(workspace_sid)


def worker_attributes(cipher: Cipher, worker: Worker) -> dict[str, Any]:
    """A worker's attributes (stored as a JSON object: ``Workers``' ``Attributes`` check)."""
    value = json.loads(cipher.decrypt(worker.attributes_enc, "worker.attributes"))
    return value if isinstance(value, dict) else {}


class CustomerView:
    """What one customer's socket shows of the agents of its channel: their display names and
    pictures instead of their identities. Read from the channel's agents (those who accepted its
    tasks) and read again when someone it does not know appears (a transfer's next agent)."""

    def __init__(self, context: AppContext, channel_sid: str, customer_identity: str) -> None:
        self.context = context
        self.channel_sid = channel_sid
        self.customer_identity = customer_identity
        self.profiles: dict[str, AgentProfile] = {}
        # Identities the channel's agents were read again for: not every author is an agent (a
        # REST caller's ``From``), and one read per newcomer is enough (an agent joins its
        # channel before anyone hears of it: ``join_channel``).
        self.asked: set[str] = set()

    async def _load(self) -> None:
        async with self.context.db.session() as session:
            workers = (
                await session.exec(
                    select(Worker)
                    .join(ChannelAgent, col(ChannelAgent.worker_sid) == col(Worker.sid))
                    .where(ChannelAgent.channel_sid == self.channel_sid)
                )
            ).all()
        for worker in workers:
            attributes = worker_attributes(self.context.cipher, worker)
            profile = profile_of(attributes)
            if profile is not None:
                self.profiles[worker_identity(worker.friendly_name, attributes)] = profile

    async def profile(self, identity: Any) -> AgentProfile | None:
        if not isinstance(identity, str) or identity == self.customer_identity:
            return None
        if identity not in self.profiles and identity not in self.asked:
            self.asked.add(identity)
            await self._load()
        return self.profiles.get(identity)

    async def event(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """An event's data as the customer sees it."""
        field = WHO.get(kind)
        if field is None:
            return data
        profile = await self.profile(data.get(field))
        if profile is None:
            return data
        return {**data, field: profile.name, "avatar_url": profile.avatar_url}

    async def messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [await self.event("message", message) for message in messages]

    async def read_horizons(self, horizons: dict[str, int]) -> dict[str, int]:
        shown: dict[str, int] = {}
        for identity, index in horizons.items():
            profile = await self.profile(identity)
            name = profile.name if profile else identity
            shown[name] = max(shown.get(name, index), index)
        return shown
