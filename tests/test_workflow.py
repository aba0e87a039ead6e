"""The state machine table (pure: no database)."""

import pytest

from liaison_app.workflow import (
    TRANSITIONS,
    Action,
    Actor,
    ForbiddenActor,
    InvalidTransition,
    Status,
    allowed_actions,
    next_status,
)


def test_a_new_request_starts_awaiting_acceptance():
    assert next_status(None, Action.FILE, Actor.ENTERPRISE) is Status.SUBMITTED


def test_the_enterprise_may_withdraw_only_before_a_claim():
    assert next_status(Status.SUBMITTED, Action.WITHDRAW, Actor.ENTERPRISE) is Status.WITHDRAWN
    for status in Status:
        if status is not Status.SUBMITTED:
            with pytest.raises(InvalidTransition):
                next_status(status, Action.WITHDRAW, Actor.ENTERPRISE)


def test_only_the_enterprise_withdraws():
    for actor in (Actor.DEPUTY, Actor.STAFF, Actor.UNIT):
        with pytest.raises(ForbiddenActor):
            next_status(Status.SUBMITTED, Action.WITHDRAW, actor)


def test_adding_information_keeps_the_status_while_open_and_is_refused_once_final():
    for status in Status:
        if status.is_final:
            with pytest.raises(InvalidTransition):
                next_status(status, Action.ADD_INFO, Actor.ENTERPRISE)
        else:
            assert next_status(status, Action.ADD_INFO, Actor.ENTERPRISE) is status


def test_the_happy_path_of_the_closed_loop():
    path = [
        (Action.CLAIM, Actor.DEPUTY, Status.CLAIMED),
        (Action.ASSIGN, Actor.DEPUTY, Status.ASSIGNED),
        (Action.ACKNOWLEDGE, Actor.UNIT, Status.IN_PROGRESS),
        (Action.RESPOND, Actor.UNIT, Status.REPLIED),
        (Action.ACCEPT, Actor.STAFF, Status.AWAITING_RATING),
        (Action.RATE, Actor.ENTERPRISE, Status.CLOSED),
    ]
    status = Status.SUBMITTED
    for action, actor, expected in path:
        status = next_status(status, action, actor)
        assert status is expected


def test_every_status_is_reachable_and_every_open_status_has_a_way_forward():
    reachable = {t.to for t in TRANSITIONS.values() if t.to}
    assert reachable == set(Status)
    for status in Status:
        if not status.is_final:
            assert any(t.to not in (None, status) for (s, _), t in TRANSITIONS.items() if s is status)


def test_allowed_actions_for_the_enterprise_on_a_new_request():
    assert set(allowed_actions(Status.SUBMITTED, Actor.ENTERPRISE)) == {Action.WITHDRAW, Action.ADD_INFO}
