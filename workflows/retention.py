"""Retention and erasure as workflows: a scheduled sweep deletes each service's expired messages,
and an erasure removes one contact's data across channels, finishing even if the API that asked
restarts. Their inputs carry SIDs and keyed hashes only, never an address."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows import sids

SWEEP_TIMEOUT = timedelta(minutes=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


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


@workflow.defn
class RetentionSweep:
    @workflow.run
    async def run(self) -> list[SweepResult]:
        due = await workflow.execute_activity(
            "retention_due",
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
            result_type=list[ServiceRetention],
        )
        now = workflow.now().isoformat()
        results = []
        for service in due:
            audit_sid = sids.sid_from_uuid(sids.AUDIT_EVENT, workflow.uuid4())
            counts: dict[str, int] = await workflow.execute_activity(
                "sweep_service",
                SweepRequest(service.service_sid, service.days, now, audit_sid),
                start_to_close_timeout=SWEEP_TIMEOUT,
                retry_policy=RETRY,
            )
            results.append(SweepResult(service.service_sid, counts))
        return results


@workflow.defn
class ContactErasure:
    @workflow.run
    async def run(self, request: ErasureRequest) -> dict[str, int]:
        counts: dict[str, int] = await workflow.execute_activity(
            "erase_contact", request, start_to_close_timeout=SWEEP_TIMEOUT, retry_policy=RETRY
        )
        return counts
