"""pytest plugin shipped with flowlog: a real broker for your tests, no JVM, no container.

    def test_my_app(flowlog_broker):
        producer = confluent_kafka.Producer({"bootstrap.servers": flowlog_broker.bootstrap})
        ...

The broker runs in a background thread on 127.0.0.1 with a temporary data dir,
so synchronous and asynchronous clients both work against it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowlog.embedded import BrokerThread


@pytest.fixture
def flowlog_broker() -> Iterator[BrokerThread]:
    """A fresh broker per test (function scope)."""
    with BrokerThread() as broker:
        yield broker
