"""Retention and erasure as workflows: a scheduled sweep deletes each service's expired messages,
and an erasure removes one contact's data across channels, finishing even if the API that asked
restarts. Their inputs carry SIDs and keyed hashes only, never an address."""

from __future__ import annotations

from temporalio import workflow

from workflows import activity_options, sids
from workflows.retention_messages import ErasureRequest, SweepRequest, SweepResult

with workflow.unsafe.imports_passed_through():
    from activities.retention import RetentionActivities


@workflow.defn
class RetentionSweep:
    @workflow.run
    async def run(self) -> list[SweepResult]:
        due = await workflow.execute_activity_method(
            RetentionActivities.retention_due, **activity_options.RETENTION_DUE
        )
        now = workflow.now().isoformat()
        results = []
        for service in due:
            audit_sid = sids.sid_from_uuid(sids.AUDIT_EVENT, workflow.uuid4())
            counts = await workflow.execute_activity_method(
                RetentionActivities.sweep_service,
                SweepRequest(service.service_sid, service.days, now, audit_sid),
                **activity_options.SWEEP,
            )
            results.append(SweepResult(service.service_sid, counts))
        return results


@workflow.defn
class ContactErasure:
    @workflow.run
    async def run(self, request: ErasureRequest) -> dict[str, int]:
        return await workflow.execute_activity_method(
            RetentionActivities.erase_contact, request, **activity_options.SWEEP
        )
