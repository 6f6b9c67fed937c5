"""One consumer-group member as its own process, for the group integration tests.

    python group_member.py BOOTSTRAP TOPIC GROUP [--client confluent|kafka-python]
        [--set KEY=VALUE ...] [--delay-ms N] [--commit message|auto] [--max-seconds S]

Prints JSON lines on stdout, flushed at once so a kill -9 loses nothing printed:
    {"event": "assigned"|"revoked", "partitions": [...], "incremental": bool}
    {"event": "message", "partition": p, "offset": o, "value": "..."}
    {"event": "closed"}
With --commit message, each message is printed and then committed synchronously,
so everything committed was printed (a kill between the two repeats one message).
SIGTERM closes the consumer cleanly (commit, LeaveGroup) and exits.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

POLL_S = 0.2


def emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def parse_settings(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


class Stop:
    requested = False

    @classmethod
    def install(cls) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(cls, "requested", True))


def run_confluent(args: argparse.Namespace) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    config: dict[str, Any] = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": args.commit == "auto",
        "auto.commit.interval.ms": 500,
        **parse_settings(args.set),
    }
    consumer = Consumer(config)
    cooperative = config.get("partition.assignment.strategy") == "cooperative-sticky"

    def on_assign(_: Any, partitions: list[Any]) -> None:
        emit(event="assigned", partitions=sorted(p.partition for p in partitions),
             incremental=cooperative)
        if cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)

    def on_revoke(_: Any, partitions: list[Any]) -> None:
        emit(event="revoked", partitions=sorted(p.partition for p in partitions),
             incremental=cooperative)
        if cooperative:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()

    consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke)
    deadline = time.monotonic() + args.max_seconds
    while not Stop.requested and time.monotonic() < deadline:
        message = consumer.poll(POLL_S)
        if message is None or message.error() is not None:
            continue
        emit(event="message", partition=message.partition(), offset=message.offset(),
             value=message.value().decode())
        if args.commit == "message":
            try:
                consumer.commit(offsets=[TopicPartition(args.topic, message.partition(),
                                                        message.offset() + 1)],
                                asynchronous=False)
            except KafkaException as error:
                # A rebalance beat the commit: the message will be delivered again.
                emit(event="commit-failed", error=str(error))
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)  # simulated processing time
    consumer.close()
    emit(event="closed")


def run_kafka_python(args: argparse.Namespace) -> None:
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.errors import KafkaError

    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}
    settings = parse_settings(args.set)
    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=args.commit == "auto",
        auto_commit_interval_ms=500,
        partition_assignment_strategy=[assignors[settings.get("assignor", "range")]],
        session_timeout_ms=int(settings.get("session_timeout_ms", "6000")),
        heartbeat_interval_ms=int(settings.get("heartbeat_interval_ms", "500")),
    )

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        def on_partitions_assigned(self, assigned: Any) -> None:
            emit(event="assigned", partitions=sorted(p.partition for p in assigned),
                 incremental=False)

        def on_partitions_revoked(self, revoked: Any) -> None:
            emit(event="revoked", partitions=sorted(p.partition for p in revoked),
                 incremental=False)

    consumer.subscribe([args.topic], listener=Listener())
    deadline = time.monotonic() + args.max_seconds
    while not Stop.requested and time.monotonic() < deadline:
        batches = consumer.poll(timeout_ms=int(POLL_S * 1000))
        for records in batches.values():
            for record in records:
                emit(event="message", partition=record.partition, offset=record.offset,
                     value=record.value.decode())
                if args.commit == "message":
                    try:
                        consumer.commit({TopicPartition(args.topic, record.partition):
                                         OffsetAndMetadata(record.offset + 1, "", -1)})
                    except KafkaError as error:
                        emit(event="commit-failed", error=str(error))
    consumer.close()
    emit(event="closed")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("group")
    parser.add_argument("--client", choices=["confluent", "kafka-python"], default="confluent")
    parser.add_argument("--set", action="append", default=[], help="client setting KEY=VALUE")
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--commit", choices=["message", "auto"], default="auto")
    parser.add_argument("--max-seconds", type=float, default=90.0)
    args = parser.parse_args()
    Stop.install()
    if args.client == "confluent":
        run_confluent(args)
    else:
        run_kafka_python(args)


if __name__ == "__main__":
    main()
