"""Broker sessions: expiry after the session timeout, fresh sessions for a new controller."""

from __future__ import annotations

from flowlog.controller.broker_sessions_core import BrokerSessions


def test_a_broker_expires_a_whole_timeout_after_its_last_contact() -> None:
    sessions = BrokerSessions(session_timeout_ms=1000)
    sessions.start_all([1, 2], now_ms=0)
    sessions.touch(2, 600)
    assert sessions.expired([1, 2], now_ms=999) == []
    assert sessions.expired([1, 2], now_ms=1000) == [1]
    assert sessions.expired([1, 2], now_ms=1600) == [1, 2]
    assert sessions.next_expiry_ms([2]) == 1600


def test_an_unknown_live_broker_gets_a_session_from_now() -> None:
    sessions = BrokerSessions(session_timeout_ms=1000)
    assert sessions.expired([7], now_ms=5000) == []
    assert sessions.expired([7], now_ms=6000) == [7]


def test_touch_never_moves_back_and_forget_drops() -> None:
    sessions = BrokerSessions(session_timeout_ms=100)
    sessions.touch(1, 500)
    sessions.touch(1, 400)
    assert sessions.next_expiry_ms([1]) == 600
    sessions.forget(1)
    assert sessions.next_expiry_ms([1]) is None
