"""`flowlog topics create|list|describe|delete|alter-config`."""

from __future__ import annotations

import argparse
from typing import Any

from flowlog.cli.common import (
    UsageError,
    add_client_options,
    admin_client,
    parse_pairs,
    run_client_command,
)
from flowlog.cli.output import print_json, print_table, report
from flowlog.client import ConfigResource, NewTopic, TopicPartition

# Kafka's ConfigSource numbers, as DescribeConfigs reports them.
CONFIG_SOURCES = {1: "topic", 4: "broker", 5: "default"}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    topics = commands.add_parser("topics", help="create, list, describe, delete topics")
    actions = topics.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a topic")
    create.add_argument("name")
    create.add_argument("--partitions", type=int, default=1)
    create.add_argument("--replication-factor", type=int, default=1)
    create.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    create.set_defaults(command=create_topic)

    listing = actions.add_parser("list", help="list topics")
    listing.set_defaults(command=list_topics)

    describe = actions.add_parser("describe", help="partitions, leaders, offsets and configs")
    describe.add_argument("name")
    describe.set_defaults(command=describe_topic)

    delete = actions.add_parser("delete", help="delete a topic")
    delete.add_argument("name")
    delete.set_defaults(command=delete_topic)

    alter = actions.add_parser("alter-config", help="set or delete topic configs")
    alter.add_argument("name")
    alter.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    alter.add_argument("--delete", action="append", default=[], metavar="KEY")
    alter.set_defaults(command=alter_config)

    for parser in (create, listing, describe, delete, alter):
        add_client_options(parser)
        parser.set_defaults(run=lambda args: run_client_command(args.command, args))


async def create_topic(args: argparse.Namespace) -> int:
    if args.partitions < 1:
        raise UsageError(f"--partitions must be at least 1, got {args.partitions}")
    configs = parse_pairs(args.config, "--config")
    async with admin_client(args) as admin:
        await admin.create_topics([NewTopic(args.name, args.partitions,
                                            args.replication_factor, configs)])
    report(args.json, {"created": args.name, "partitions": args.partitions},
           f"created topic {args.name} with {args.partitions} partition(s)")
    return 0


async def list_topics(args: argparse.Namespace) -> int:
    async with admin_client(args) as admin:
        names = sorted(await admin.list_topics())
    if args.json:
        print_json(names)
    else:
        for name in names:
            print(name)
    return 0


async def describe_topic(args: argparse.Namespace) -> int:
    async with admin_client(args) as admin:
        description = (await admin.describe_topics([args.name]))[args.name]
        partitions = [TopicPartition(args.name, p.partition) for p in description.partitions]
        earliest = await admin.list_offsets({tp: "earliest" for tp in partitions})
        latest = await admin.list_offsets({tp: "latest" for tp in partitions})
        configs = await admin.describe_configs(ConfigResource.topic(args.name))
    rows: list[dict[str, Any]] = [
        {
            "partition": p.partition, "leader": p.leader, "replicas": list(p.replicas),
            "isr": list(p.isr),
            "earliest_offset": earliest[TopicPartition(args.name, p.partition)][0],
            "latest_offset": latest[TopicPartition(args.name, p.partition)][0],
        }
        for p in sorted(description.partitions, key=lambda p: p.partition)
    ]
    config_rows = [
        {"name": c.name, "value": c.value, "source": CONFIG_SOURCES.get(c.source, str(c.source))}
        for c in sorted(configs.values(), key=lambda c: c.name)
    ]
    if args.json:
        print_json({"topic": args.name, "internal": description.is_internal,
                    "partitions": rows, "configs": config_rows})
        return 0
    print(f"topic {args.name}: {len(rows)} partition(s)")
    print_table(
        ["partition", "leader", "replicas", "isr", "earliest", "latest"],
        [[r["partition"], r["leader"], ",".join(map(str, r["replicas"])),
          ",".join(map(str, r["isr"])), r["earliest_offset"], r["latest_offset"]] for r in rows],
    )
    print()
    print_table(["config", "value", "source"],
                [[c["name"], c["value"], c["source"]] for c in config_rows])
    return 0


async def delete_topic(args: argparse.Namespace) -> int:
    async with admin_client(args) as admin:
        await admin.delete_topics([args.name])
    report(args.json, {"deleted": args.name}, f"deleted topic {args.name}")
    return 0


async def alter_config(args: argparse.Namespace) -> int:
    updates = parse_pairs(args.set, "--set")
    if not updates and not args.delete:
        raise UsageError("alter-config needs at least one --set KEY=VALUE or --delete KEY")
    async with admin_client(args) as admin:
        await admin.incremental_alter_configs(
            ConfigResource.topic(args.name), set=updates, delete=args.delete
        )
    report(args.json, {"topic": args.name, "set": updates, "deleted": args.delete},
           f"altered configs of {args.name}")
    return 0
