"""The side effects of retention and erasure: deleting in the store, ending the erased contact's
channel workflows, recording the audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from store.crypto import Cipher
from store.db import Database
from store.models import Erasure, utcnow
from store.retention import audit, contact_channels, cutoff_for, erase_channels, services_to_sweep, sweep_service
from workflows.retention import ErasureRequest, ServiceRetention, SweepRequest


@dataclass
class RetentionActivities:
    db: Database
    cipher: Cipher
    client: Client
    default_days: int

    def all(self) -> list[Any]:
        return [self.retention_due, self.sweep_service, self.erase_contact]

    @activity.defn(name="retention_due")
    async def retention_due(self) -> list[ServiceRetention]:
        return await services_to_sweep(self.db, self.default_days)

    @activity.defn(name="sweep_service")
    async def sweep_service(self, request: SweepRequest) -> dict[str, int]:
        cutoff = cutoff_for(datetime.fromisoformat(request.now), request.days)
        counts = await sweep_service(self.db, request.service_sid, cutoff)
        details = {"cutoff": cutoff.isoformat(), "days": request.days, "counts": counts}
        await audit(self.db, request.audit_sid, "retention.swept", "retention schedule", request.service_sid, details)
        return counts

    @activity.defn(name="erase_contact")
    async def erase_contact(self, request: ErasureRequest) -> dict[str, int]:
        channels = await contact_channels(self.db, request.address_hash, request.identity_hash)
        # The channels' workflows end first, so none of them writes again what is being erased.
        for channel_sid in channels:
            try:
                await self.client.get_workflow_handle(channel_sid).terminate(reason="the contact's data was erased")
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
        counts = await erase_channels(self.db, self.cipher, channels, request.address_hash)
        counts["channels_ended"] = len(channels)
        details = {"erasure_sid": request.erasure_sid, "counts": counts}
        await audit(self.db, request.audit_sid, "contact.erased", request.requested_by, request.address_hash, details)
        async with self.db.write_session() as session:
            erasure = await session.get(Erasure, request.erasure_sid)
            if erasure is not None:
                erasure.status, erasure.counts = "completed", json.dumps(counts, sort_keys=True)
                erasure.date_updated = utcnow()
                session.add(erasure)
                await session.commit()
        return counts
