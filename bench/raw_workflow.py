"""The raw-Temporal baseline of the benchmarks: a workflow that only counts its signals. Kept in
its own module so the workflow sandbox imports nothing but temporalio."""

from __future__ import annotations

from temporalio import workflow


@workflow.defn
class RawChannel:
    def __init__(self) -> None:
        self.received = 0

    @workflow.signal
    def message(self, _body: str) -> None:
        self.received += 1

    @workflow.run
    async def run(self, expected: int) -> int:
        await workflow.wait_condition(lambda: self.received >= expected)
        return self.received
