"""`flowlog groups list|describe|delete|reset-offsets`."""

from __future__ import annotations

import argparse

from flowlog.cli.common import (
    UsageError,
    add_client_options,
    admin_client,
    bootstrap_servers,
    client_options,
    run_client_command,
)
from flowlog.cli.output import print_json, print_table, report
from flowlog.client import Consumer, OffsetAndMetadata, TopicPartition
from flowlog.protocol.errors import DecodeError
from flowlog.protocol.group_protocol import decode_assignment

# Offsets may be reset only while no member could overwrite them.
RESETTABLE_STATES = ("Empty", "Dead")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    groups = commands.add_parser("groups", help="list, describe, delete groups; reset offsets")
    actions = groups.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="list consumer groups")
    listing.set_defaults(command=list_groups)

    describe = actions.add_parser(
        "describe", help="members, assignments, committed offsets and lag"
    )
    describe.add_argument("group")
    describe.set_defaults(command=describe_group)

    delete = actions.add_parser("delete", help="delete an empty group and its offsets")
    delete.add_argument("group")
    delete.set_defaults(command=delete_group)

    reset = actions.add_parser("reset-offsets", help="move an empty group's committed offsets")
    reset.add_argument("group")
    reset.add_argument("--topic", required=True)
    target = reset.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-earliest", action="store_true")
    target.add_argument("--to-latest", action="store_true")
    target.add_argument("--to-offset", type=int, metavar="N")
    reset.set_defaults(command=reset_offsets)

    for parser in (listing, describe, delete, reset):
        add_client_options(parser)
        parser.set_defaults(run=lambda args: run_client_command(args.command, args))


async def list_groups(args: argparse.Namespace) -> int:
    async with admin_client(args) as admin:
        listings = sorted(await admin.list_groups(), key=lambda g: g.group_id)
    rows = [{"group": g.group_id, "state": g.state, "protocol_type": g.protocol_type}
            for g in listings]
    if args.json:
        print_json(rows)
    else:
        print_table(["group", "state", "protocol type"],
                    [[r["group"], r["state"], r["protocol_type"]] for r in rows])
    return 0


def _assigned(assignment: bytes) -> list[tuple[str, int]]:
    if not assignment:
        return []
    try:
        decoded = decode_assignment(assignment)
    except DecodeError:
        return []  # not the consumer protocol: opaque to us
    return [(entry.topic, p) for entry in decoded.assigned_partitions for p in entry.partitions]


async def describe_group(args: argparse.Namespace) -> int:
    async with admin_client(args) as admin:
        description = (await admin.describe_groups([args.group]))[args.group]
        committed = await admin.list_group_offsets(args.group)
        owners: dict[tuple[str, int], str] = {}
        for member in description.members:
            for topic_partition in _assigned(member.assignment):
                owners[topic_partition] = member.member_id
        partitions = sorted(set(owners) | {(tp.topic, tp.partition) for tp in committed})
        ends = await admin.list_offsets(
            {TopicPartition(topic, p): "latest" for topic, p in partitions}
        ) if partitions else {}
    rows = []
    for topic, partition in partitions:
        tp = TopicPartition(topic, partition)
        offset = committed.get(tp)
        end = ends[tp][0]
        rows.append({
            "topic": topic, "partition": partition,
            "committed_offset": offset.offset if offset else None,
            "log_end_offset": end,
            "lag": end - offset.offset if offset else None,
            "member": owners.get((topic, partition)),
        })
    members = [
        {"member_id": m.member_id, "group_instance_id": m.group_instance_id,
         "client_id": m.client_id, "host": m.client_host,
         "partitions": [f"{t}-{p}" for t, p in _assigned(m.assignment)]}
        for m in description.members
    ]
    if args.json:
        print_json({"group": args.group, "state": description.state,
                    "protocol": description.protocol, "members": members, "offsets": rows})
        return 0
    print(f"group {args.group}: {description.state}, protocol {description.protocol or '-'}, "
          f"{len(members)} member(s)")
    print_table(["topic", "partition", "committed", "log end", "lag", "member"],
                [[r["topic"], r["partition"], r["committed_offset"], r["log_end_offset"],
                  r["lag"], r["member"] or "-"] for r in rows])
    return 0


async def delete_group(args: argparse.Namespace) -> int:
    async with admin_client(args) as admin:
        await admin.delete_groups([args.group])
    report(args.json, {"deleted": args.group}, f"deleted group {args.group}")
    return 0


async def reset_offsets(args: argparse.Namespace) -> int:
    if args.to_offset is not None and args.to_offset < 0:
        raise UsageError(f"--to-offset must be >= 0, got {args.to_offset}")
    async with admin_client(args) as admin:
        description = (await admin.describe_groups([args.group]))[args.group]
        if description.state not in RESETTABLE_STATES:
            raise UsageError(
                f"group {args.group} is {description.state}; stop its members first"
            )
        topic = (await admin.describe_topics([args.topic]))[args.topic]
        partitions = [TopicPartition(args.topic, p.partition) for p in topic.partitions]
        if args.to_offset is not None:
            targets = {tp: args.to_offset for tp in partitions}
        else:
            spec = "earliest" if args.to_earliest else "latest"
            found = await admin.list_offsets({tp: spec for tp in partitions})
            targets = {tp: found[tp][0] for tp in partitions}
    async with Consumer(bootstrap_servers(args), **client_options(
        args, group_id=args.group, enable_auto_commit=False,
    )) as consumer:
        consumer.assign(partitions)
        await consumer.commit({tp: OffsetAndMetadata(offset) for tp, offset in targets.items()})
    rows = [{"topic": tp.topic, "partition": tp.partition, "offset": offset}
            for tp, offset in sorted(targets.items(), key=lambda item: item[0].partition)]
    if args.json:
        print_json(rows)
    else:
        print_table(["topic", "partition", "new offset"],
                    [[r["topic"], r["partition"], r["offset"]] for r in rows])
    return 0
