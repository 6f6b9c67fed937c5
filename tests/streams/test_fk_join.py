"""Foreign-key table joins (KIP-213) through the test driver, against a model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlog_streams import Materialized, Serdes, StreamsBuilder
from flowlog_streams.errors import TopologyException
from flowlog_streams.fk_join import Response, ResponseSerde, value_hash
from flowlog_streams.testing import TopologyTestDriver

S, J = Serdes.str(), Serdes.json()


def build(kind: str, name: str | None = None) -> Any:
    builder = StreamsBuilder()
    orders = builder.table("orders", key_serde=S, value_serde=J)
    customers = builder.table("customers", key_serde=S, value_serde=S)
    joined = getattr(orders, kind)(
        customers, lambda order: order["customer"],
        lambda order, customer: f"{order['item']}/{customer}",
        Materialized.with_serdes(None, S), name=name,  # the result store's value serde
    )
    joined.to_stream().to("out", key_serde=S, value_serde=S)
    return builder.build()


class Run:
    def __init__(self, driver: TopologyTestDriver, partitions: int) -> None:
        self.orders = driver.create_input_topic("orders", S, J, partitions=partitions)
        self.customers = driver.create_input_topic("customers", S, S, partitions=partitions)
        self.out = driver.create_output_topic("out", S, S)
        self.result: dict[str, str] = {}

    def latest(self) -> dict[str, str]:
        for key, value in self.out.read_key_values_to_list():
            if value is None:
                self.result.pop(key, None)
            else:
                self.result[key] = value
        return self.result


def expected(orders: dict[str, dict[str, Any]], customers: dict[str, str], left: bool) -> dict[str, str]:
    result = {}
    for key, order in orders.items():
        name = customers.get(order["customer"]) if order["customer"] is not None else None
        if name is not None or left:
            result[key] = f"{order['item']}/{name}"
    return result


def test_inner_join_follows_foreign_key_changes_and_deletes() -> None:
    with TopologyTestDriver(build("join"), {"cache_max_bytes": 0}) as driver:
        run = Run(driver, 1)
        run.orders.pipe_input("o1", {"item": "book", "customer": "c1"})
        assert run.latest() == {}  # no customer c1 yet
        run.customers.pipe_input("c1", "ann")
        assert run.latest() == {"o1": "book/ann"}
        run.customers.pipe_input("c2", "bob")
        run.orders.pipe_input("o1", {"item": "book", "customer": "c2"})  # the FK changes
        assert run.latest() == {"o1": "book/bob"}
        run.customers.pipe_input("c1", "anne")  # the old FK's update no longer reaches o1
        assert run.latest() == {"o1": "book/bob"}
        run.customers.pipe_input("c2", None)  # the right row goes: the result goes
        assert run.latest() == {}
        run.customers.pipe_input("c2", "bobby")
        assert run.latest() == {"o1": "book/bobby"}
        run.orders.pipe_input("o1", None)  # the left row goes
        assert run.latest() == {}
        assert "o1" not in run.result


def test_left_join_keeps_rows_without_a_match() -> None:
    with TopologyTestDriver(build("left_join"), {"cache_max_bytes": 0}) as driver:
        run = Run(driver, 1)
        run.orders.pipe_input("o1", {"item": "pen", "customer": "c9"})
        assert run.latest() == {"o1": "pen/None"}
        run.customers.pipe_input("c9", "zoe")
        assert run.latest() == {"o1": "pen/zoe"}
        run.orders.pipe_input("o1", {"item": "pen", "customer": None})  # a null foreign key
        assert run.latest() == {"o1": "pen/None"}
        run.orders.pipe_input("o1", None)
        assert run.latest() == {}


def test_a_stale_response_is_dropped() -> None:
    topology = build("join", name="fk")
    with TopologyTestDriver(topology, {"cache_max_bytes": 0}) as driver:
        run = Run(driver, 1)
        run.customers.pipe_input("c1", "ann")
        run.orders.pipe_input("o1", {"item": "book", "customer": "c1"})
        assert run.latest() == {"o1": "book/ann"}
        responses = driver.create_input_topic(
            f"{driver.config.application_id}-fk-subscription-response-topic", Serdes.bytes(),
            ResponseSerde(),
        )
        old = value_hash(J.serialize("", {"item": "book", "customer": "c0"}))
        responses.pipe_input(b"o1", Response(old, b"mallory", 0))  # about an older value
        assert run.latest() == {"o1": "book/ann"}
        assert driver.metrics()["0_0"]["records_dropped"] == {"stale_response": 1}
        current = value_hash(J.serialize("", {"item": "book", "customer": "c1"}))
        responses.pipe_input(b"o1", Response(current, b"annie", 0))
        assert run.latest() == {"o1": "book/annie"}


def test_internal_topics_and_argument_errors() -> None:
    topology = build("join", name="fk")
    assert {"fk-subscription-registration-topic", "fk-subscription-response-topic",
            "fk-subscription-store-changelog", "fk-result-store-changelog"} <= set(
        topology.internal_topics)
    builder = StreamsBuilder()
    orders = builder.table("orders")
    customers = builder.table("customers")
    with pytest.raises(TopologyException, match="needs a joiner"):
        orders.join(customers)
    with pytest.raises(TopologyException, match="unexpected arguments"):
        orders.join(customers, lambda v: v, lambda a, b: a, None, "extra")


@settings(max_examples=50, deadline=None)
@given(
    left=st.booleans(),
    partitions=st.sampled_from([1, 3]),
    updates=st.lists(st.one_of(
        st.tuples(st.just("order"), st.sampled_from(["o1", "o2", "o3", "o4"]),
                  st.one_of(st.none(), st.tuples(st.sampled_from(["x", "y"]),
                                                 st.sampled_from(["c1", "c2", "c3", None])))),
        st.tuples(st.just("customer"), st.sampled_from(["c1", "c2", "c3"]),
                  st.one_of(st.none(), st.sampled_from(["ann", "bob"]))),
    ), max_size=30),
)
def test_property_results_match_the_model_after_every_update(
    left: bool, partitions: int, updates: list[tuple[str, str, Any]]
) -> None:
    orders: dict[str, dict[str, Any]] = {}
    customers: dict[str, str] = {}
    with TopologyTestDriver(build("left_join" if left else "join"), {"cache_max_bytes": 0}) as driver:
        run = Run(driver, partitions)
        for side, key, value in updates:
            if side == "order":
                order = None if value is None else {"item": value[0], "customer": value[1]}
                run.orders.pipe_input(key, order)
                if order is None:
                    orders.pop(key, None)
                else:
                    orders[key] = order
            else:
                run.customers.pipe_input(key, value)
                if value is None:
                    customers.pop(key, None)
                else:
                    customers[key] = value
            assert run.latest() == expected(orders, customers, left), (side, key, value)
