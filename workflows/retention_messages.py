"""What the retention workflows and their activities exchange: SIDs and keyed hashes only, never
an address."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ServiceRetention:
    service_sid: str
    days: int


@dataclass
class SweepRequest:
    service_sid: str
    days: int
    # ISO 8601 instant the sweep counts days back from (the workflow's clock).
    now: str
    audit_sid: str


@dataclass
class SweepResult:
    service_sid: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class ErasureRequest:
    erasure_sid: str
    address_hash: str
    identity_hash: str
    requested_by: str
    audit_sid: str
