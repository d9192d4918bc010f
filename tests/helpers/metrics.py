"""The Prometheus metrics a stack exposes, read as samples."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.stack import Stack

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(stack: Stack) -> Samples:
    with stack.http() as http:  # the account's credentials (operational endpoints take them)
        answer = http.get("/metrics")
    assert answer.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
