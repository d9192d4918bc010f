"""The supervisor view's rules without a stack: who signs in as what (the worker's ``roles``
attribute, never the caller's choice), who may supervise which workspace, and what an update
carries (only the rows that changed, ``None`` for a row gone)."""

from __future__ import annotations

from typing import Any

import pytest

from api.access import desk_role, may_supervise
from api.sockets.supervision import Board, changes
from api.tokens import Grants

pytestmark = pytest.mark.fast

WS = "WS" + "0" * 32
OTHER = "WS" + "1" * 32


@pytest.mark.parametrize(
    ("attributes", "role"),
    [
        ({"roles": ["supervisor"]}, "supervisor"),
        ({"roles": ["admin"]}, "admin"),
        ({"roles": ["supervisor", "admin"]}, "admin"),
        ({"roles": ["agent"]}, "agent"),
        ({"roles": ["superuser", "owner"]}, "agent"),
        ({"roles": "supervisor"}, "agent"),  # not a list: nothing granted
        ({"roles": [["supervisor"]]}, "agent"),
        ({}, "agent"),
        (["supervisor"], "agent"),
        (None, "agent"),
    ],
)
def test_the_desk_role_is_the_workers_own(attributes: Any, role: str) -> None:
    assert desk_role(attributes) == role


def test_only_supervisors_and_admins_supervise_and_only_their_workspace() -> None:
    assert may_supervise(Grants(role="supervisor", workspace_sid=WS), WS)
    assert may_supervise(Grants(role="admin", workspace_sid=WS), WS)
    assert not may_supervise(Grants(role="agent", workspace_sid=WS), WS)
    assert not may_supervise(Grants(role="customer", workspace_sid=WS), WS)
    assert not may_supervise(Grants(role="supervisor", workspace_sid=OTHER), WS)
    assert not may_supervise(Grants(role="admin"), WS)


def test_an_update_carries_only_what_changed() -> None:
    before: Board = {
        "queues": {"WQ1": {"sid": "WQ1", "waiting": 1}},
        "agents": {"WK1": {"sid": "WK1", "activity_name": "Available"}, "WK2": {"sid": "WK2"}},
        "conversations": {"WT1": {"task_sid": "WT1", "status": "pending"}},
    }
    after: Board = {
        "queues": {"WQ1": {"sid": "WQ1", "waiting": 1}},
        "agents": {"WK1": {"sid": "WK1", "activity_name": "Break"}, "WK2": {"sid": "WK2"}},
        "conversations": {"WT2": {"task_sid": "WT2", "status": "pending"}},
    }
    assert changes(before, after) == {
        "agents": {"WK1": {"sid": "WK1", "activity_name": "Break"}},
        "conversations": {"WT2": {"task_sid": "WT2", "status": "pending"}, "WT1": None},
    }
    assert changes(after, after) == {}
    assert changes({}, after) == after
