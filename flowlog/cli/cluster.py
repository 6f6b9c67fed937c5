"""`flowlog cluster describe` and `flowlog cluster up`.

describe asks any broker, over the Kafka protocol: DescribeCluster v2 (every broker,
fenced ones flagged), DescribeQuorum (the controller leader and its term) and Metadata
(partitions: under-replicated when the ISR is smaller than the replicas, offline when
there is no leader). up runs a local cluster of broker processes that are also the
controller quorum, on free 127.0.0.1 ports, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from flowlog.cli.common import (
    EXIT_FAILED,
    UsageError,
    add_client_options,
    admin_client,
    run_client_command,
)
from flowlog.cli.output import print_json, print_table
from flowlog.protocol.messages.describe_cluster import DescribeClusterRequest
from flowlog.protocol.messages.describe_quorum import DescribeQuorumRequest
from flowlog.protocol.messages.metadata import MetadataRequest

METADATA_TOPIC = "__cluster_metadata"
READY_LINE = "flowlog broker ready on "
NODES_MAX = 9
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cluster = commands.add_parser("cluster", help="describe a cluster, or run one locally")
    actions = cluster.add_subparsers(dest="action", metavar="ACTION", required=True)

    describe = actions.add_parser(
        "describe", help="brokers (alive/fenced), controller leader and term, "
        "under-replicated and offline partitions",
    )
    add_client_options(describe)
    describe.set_defaults(run=lambda args: run_client_command(describe_cluster, args))

    up = actions.add_parser("up", help="run a local cluster on 127.0.0.1 until Ctrl-C")
    up.add_argument("--nodes", type=int, default=3, help="brokers, all controller voters")
    up.add_argument("--data-dir", default="./flowlog-cluster", help="node-N/ per broker")
    up.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                    help="a broker config for every node (repeatable)")
    up.set_defaults(run=run_cluster_up)


# -- describe ------------------------------------------------------------------------------


async def describe_cluster(args: argparse.Namespace) -> int:
    async with admin_client(args) as admin:
        call = admin.cluster.call
        described = await call(None, 60, DescribeClusterRequest(
            include_cluster_authorized_operations=False, endpoint_type=1,
            include_fenced_brokers=True,
        ))
        quorum = await call(None, 55, DescribeQuorumRequest(topics=[
            DescribeQuorumRequest.TopicData(
                topic_name=METADATA_TOPIC,
                partitions=[DescribeQuorumRequest.PartitionData(partition_index=0)],
            )
        ]))
        metadata = await call(None, 3, MetadataRequest(
            topics=None, allow_auto_topic_creation=False,
        ))
    document = cluster_document(described, quorum, metadata)
    if args.json:
        print_json(document)
    else:
        print_document(document)
    return 0


def cluster_document(described: Any, quorum: Any, metadata: Any) -> dict[str, Any]:
    (quorum_topic,) = quorum.topics
    (quorum_partition,) = quorum_topic.partitions
    partitions = [
        {
            "topic": topic.name,
            "partition": partition.partition_index,
            "leader": partition.leader_id,
            "leader_epoch": partition.leader_epoch,
            "replicas": list(partition.replica_nodes),
            "isr": list(partition.isr_nodes),
        }
        for topic in metadata.topics
        for partition in topic.partitions
    ]
    partitions.sort(key=lambda item: (item["topic"], item["partition"]))
    return {
        "cluster_id": described.cluster_id,
        "controller": {
            "leader": quorum_partition.leader_id,
            "term": quorum_partition.leader_epoch,
            "committed_index": quorum_partition.high_watermark,
            "voters": [
                {"id": voter.replica_id, "log_end_index": voter.log_end_offset}
                for voter in quorum_partition.current_voters
            ],
        },
        "brokers": sorted(
            (
                {
                    "id": broker.broker_id,
                    "host": broker.host,
                    "port": broker.port,
                    "rack": broker.rack,
                    "state": "fenced" if broker.is_fenced else "alive",
                }
                for broker in described.brokers
            ),
            key=lambda item: item["id"],
        ),
        "partition_count": len(partitions),
        "under_replicated_partitions": [
            item for item in partitions if item["leader"] >= 0 and len(item["isr"]) < len(item["replicas"])
        ],
        "offline_partitions": [item for item in partitions if item["leader"] < 0],
    }


def print_document(document: dict[str, Any]) -> None:
    controller = document["controller"]
    print(f"cluster {document['cluster_id']}: controller leader {controller['leader']}, "
          f"term {controller['term']}, committed index {controller['committed_index']}")
    print()
    print_table(["BROKER", "HOST", "PORT", "RACK", "STATE"], [
        [b["id"], b["host"], b["port"], b["rack"] or "-", b["state"]] for b in document["brokers"]
    ])
    for title, key in (("under-replicated", "under_replicated_partitions"),
                       ("offline", "offline_partitions")):
        rows = document[key]
        print()
        print(f"{len(rows)} {title} partition(s) of {document['partition_count']}")
        if rows:
            print_table(["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"], [
                [p["topic"], p["partition"], p["leader"],
                 ",".join(map(str, p["replicas"])), ",".join(map(str, p["isr"]))]
                for p in rows
            ])


# -- up ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def node_commands(
    nodes: int, data_dir: Path, configs: list[str]
) -> tuple[list[list[str]], list[str]]:
    """The `flowlog broker` command of every node, and its client address."""
    ports = [(_free_port(), _free_port()) for _ in range(nodes)]
    voters = ",".join(
        f"{index + 1}@127.0.0.1:{controller}" for index, (_, controller) in enumerate(ports)
    )
    commands = []
    for index, (client, controller) in enumerate(ports):
        command = [
            sys.executable, "-m", "flowlog", "broker", "--node-id", str(index + 1),
            "--listen", f"127.0.0.1:{client}", "--controller-listen", f"127.0.0.1:{controller}",
            "--voters", voters, "--data-dir", str(data_dir / f"node-{index + 1}"),
        ]
        for config in configs:
            command += ["--config", config]
        commands.append(command)
    return commands, [f"127.0.0.1:{client}" for client, _ in ports]


def run_cluster_up(args: argparse.Namespace) -> int:
    if not 1 <= args.nodes <= NODES_MAX:
        print(f"flowlog: --nodes must be 1 to {NODES_MAX}, got {args.nodes}", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir)
    commands, addresses = node_commands(args.nodes, data_dir, args.config)
    processes: list[subprocess.Popen[str]] = []
    try:
        ready = [threading.Event() for _ in commands]
        for index, command in enumerate(commands):
            log_path = data_dir / f"node-{index + 1}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            # Own process group: Ctrl-C reaches us only, and we stop the nodes in order.
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
            )
            processes.append(process)
            threading.Thread(
                target=_copy_log, args=(process, log_path, ready[index]), daemon=True
            ).start()
        for index, event in enumerate(ready):
            if not event.wait(START_TIMEOUT_S) or processes[index].poll() is not None:
                raise UsageError(f"node {index + 1} did not start; see {data_dir}/node-{index + 1}.log")
        print(f"flowlog cluster of {args.nodes} up; bootstrap: {','.join(addresses)}", flush=True)
        print(f"logs in {data_dir}/node-N.log; Ctrl-C stops it", flush=True)
        _wait_for_interrupt(processes)
    except UsageError as error:
        print(f"flowlog: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        pass
    finally:
        _stop(processes)
    print("flowlog cluster stopped", flush=True)
    return 0


def _copy_log(process: subprocess.Popen[str], path: Path, ready: threading.Event) -> None:
    assert process.stdout is not None
    with open(path, "a") as log_file:
        for line in process.stdout:
            log_file.write(line)
            log_file.flush()
            if READY_LINE in line:
                ready.set()


def _wait_for_interrupt(processes: list[subprocess.Popen[str]]) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        dead = [index + 1 for index, process in enumerate(processes) if process.poll() is not None]
        if dead:
            print(f"flowlog: node(s) {dead} exited; stopping the cluster", file=sys.stderr)
            return


def _stop(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
