"""`flowlog consume TOPIC`: print records until N messages or S seconds of silence."""

from __future__ import annotations

import argparse
import base64
import sys
from typing import Any

import orjson
import trio

from flowlog.cli.common import (
    UsageError,
    add_client_options,
    bootstrap_servers,
    client_options,
    run_client_command,
)
from flowlog.client import Consumer, ConsumerRecord, RebalanceListener, TopicPartition

DEFAULT_TIMEOUT_S = 10.0
POLL_RECORDS_MAX = 500
# A group member waits this long for its first assignment before the silence timer starts.
JOIN_TIMEOUT_S = 60.0


class _FirstAssignment(RebalanceListener):
    def __init__(self) -> None:
        self.arrived = trio.Event()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.arrived.set()


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("consume", help="print records of a topic")
    parser.add_argument("topic")
    parser.add_argument("--group", help="consume as a member of this group (commits offsets)")
    parser.add_argument("--from-beginning", action="store_true",
                        help="start at the earliest offset (default: only new records)")
    parser.add_argument("--max-messages", type=int, default=None, metavar="N")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"exit after S seconds without a record (default {DEFAULT_TIMEOUT_S})")
    parser.add_argument("--print-key", action="store_true")
    parser.add_argument("--key-separator", default="\t", metavar="SEP",
                        help="between key and value with --print-key (default: tab)")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    add_client_options(parser)
    parser.set_defaults(run=lambda args: run_client_command(consume, args))


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", errors="replace")


def _json_bytes(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode()}


def _render(record: ConsumerRecord, args: argparse.Namespace) -> str:
    if args.format == "json" or args.json:
        return orjson.dumps({
            "topic": record.topic, "partition": record.partition, "offset": record.offset,
            "timestamp": record.timestamp, "key": _json_bytes(record.key),
            "value": _json_bytes(record.value),
            "headers": [[name, _json_bytes(value)] for name, value in record.headers],
        }).decode()
    if args.print_key:
        return f"{_text(record.key)}{args.key_separator}{_text(record.value)}"
    return _text(record.value)


async def consume(args: argparse.Namespace) -> int:
    if args.max_messages is not None and args.max_messages < 1:
        raise UsageError(f"--max-messages must be at least 1, got {args.max_messages}")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout}")
    options = client_options(
        args, group_id=args.group, enable_auto_commit=False,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
    )
    printed = 0
    async with Consumer(bootstrap_servers(args), **options) as consumer:
        if args.group is not None:
            first_assignment = _FirstAssignment()
            consumer.subscribe([args.topic], listener=first_assignment)
            # Joining takes a rebalance (and the group's initial delay): not silence.
            with trio.move_on_after(JOIN_TIMEOUT_S):
                await first_assignment.arrived.wait()
        else:
            partitions = [TopicPartition(args.topic, p)
                          for p in await consumer.partitions_for(args.topic)]
            consumer.assign(partitions)
            if args.from_beginning:
                consumer.seek_to_beginning(*partitions)
            else:
                consumer.seek_to_end(*partitions)
        while args.max_messages is None or printed < args.max_messages:
            wanted = POLL_RECORDS_MAX
            if args.max_messages is not None:
                wanted = min(wanted, args.max_messages - printed)
            batch = await consumer.getmany(max_records=wanted,
                                           timeout_ms=int(args.timeout * 1000))
            records = [record for records in batch.values() for record in records]
            if not records:
                break  # --timeout seconds of silence
            records.sort(key=lambda r: (r.partition, r.offset))
            sys.stdout.write("".join(_render(r, args) + "\n" for r in records))
            sys.stdout.flush()
            printed += len(records)
            if args.group is not None:
                await consumer.commit()
            await trio.lowlevel.checkpoint()
    print(f"consumed {printed} records from {args.topic}", file=sys.stderr)
    return 0
