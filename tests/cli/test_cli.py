"""The real `flowlog` command, as a subprocess, against a real broker process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TIMEOUT_S = 90


def flowlog(broker, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    environment = {**os.environ, "FLOWLOG_BOOTSTRAP": broker.bootstrap} if broker else os.environ
    return subprocess.run(
        [sys.executable, "-m", "flowlog", *args], input=stdin, capture_output=True, text=True,
        timeout=TIMEOUT_S, env=environment,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_topics_lifecycle(broker) -> None:  # type: ignore[no-untyped-def]
    ok(flowlog(broker, "topics", "create", "orders", "--partitions", "3",
               "--config", "retention.ms=60000"))
    assert "orders" in json.loads(ok(flowlog(broker, "topics", "list", "--json")))
    described = json.loads(ok(flowlog(broker, "topics", "describe", "orders", "--json")))
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2]
    assert all(p["leader"] == 1 and p["isr"] == [1] for p in described["partitions"])
    configs = {c["name"]: c for c in described["configs"]}
    assert configs["retention.ms"] == {"name": "retention.ms", "value": "60000", "source": "topic"}
    ok(flowlog(broker, "topics", "alter-config", "orders", "--set", "retention.ms=1000"))
    described = json.loads(ok(flowlog(broker, "topics", "describe", "orders", "--json")))
    assert {c["name"]: c["value"] for c in described["configs"]}["retention.ms"] == "1000"
    human = ok(flowlog(broker, "topics", "describe", "orders"))
    assert "partition" in human and "retention.ms" in human
    ok(flowlog(broker, "topics", "delete", "orders"))
    assert "orders" not in json.loads(ok(flowlog(broker, "topics", "list", "--json")))


def test_produce_file_then_consume_and_group_offsets(broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ok(flowlog(broker, "topics", "create", "events", "--partitions", "2"))
    lines = [f"user-{i % 5}:clicked {i}" for i in range(300)]
    source = tmp_path / "events.txt"
    source.write_text("\n".join(lines) + "\n")
    summary = json.loads(ok(flowlog(broker, "produce", "events", "--file", str(source),
                                    "--key-separator", ":", "--json")))
    assert summary["records"] == 300

    consumed = ok(flowlog(broker, "consume", "events", "--from-beginning", "--group", "readers",
                          "--timeout", "3", "--format", "json"))
    records = [json.loads(line) for line in consumed.splitlines()]
    assert sorted(f"{r['key']}:{r['value']}" for r in records) == sorted(lines)
    # Keys decide partitions: every record of one user lands in one partition.
    partitions_by_user: dict[str, set[int]] = {}
    for record in records:
        partitions_by_user.setdefault(record["key"], set()).add(record["partition"])
    assert all(len(p) == 1 for p in partitions_by_user.values())

    described = json.loads(ok(flowlog(broker, "groups", "describe", "readers", "--json")))
    assert sum(r["committed_offset"] for r in described["offsets"]) == 300
    assert all(r["lag"] == 0 for r in described["offsets"])
    assert "readers" in ok(flowlog(broker, "groups", "list"))

    reset = json.loads(ok(flowlog(broker, "groups", "reset-offsets", "readers", "--topic",
                                  "events", "--to-earliest", "--json")))
    assert {r["offset"] for r in reset} == {0}
    again = ok(flowlog(broker, "consume", "events", "--from-beginning", "--group", "readers",
                       "--timeout", "3"))
    assert len(again.splitlines()) == 300
    ok(flowlog(broker, "groups", "delete", "readers"))
    assert "readers" not in ok(flowlog(broker, "groups", "list"))


def test_consume_stops_after_max_messages(broker) -> None:  # type: ignore[no-untyped-def]
    ok(flowlog(broker, "produce", "lines", stdin="a\nb\nc\nd\n"))
    out = ok(flowlog(broker, "consume", "lines", "--from-beginning", "--max-messages", "2"))
    assert out.splitlines() == ["a", "b"]


def test_perf_produce_and_consume(broker) -> None:  # type: ignore[no-untyped-def]
    produced = json.loads(ok(flowlog(broker, "perf", "produce", "--topic", "perf",
                                     "--num-records", "2000", "--record-size", "50", "--json")))
    assert produced["records"] == 2000 and produced["latency_ms"]["p99"] > 0
    consumed = json.loads(ok(flowlog(broker, "perf", "consume", "--topic", "perf",
                                     "--messages", "2000", "--json")))
    assert consumed["records"] == 2000


def test_wrong_arguments_give_one_line_and_exit_2(broker) -> None:  # type: ignore[no-untyped-def]
    for args in (["topics", "create"], ["consume"], ["no-such-command"],
                 ["topics", "create", "t", "--partitions", "0"],
                 ["topics", "create", "t", "--config", "novalue"],
                 ["consume", "t", "--max-messages", "0"]):
        result = flowlog(broker, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_broker_errors_give_one_line_and_exit_1(broker) -> None:  # type: ignore[no-untyped-def]
    result = flowlog(broker, "topics", "delete", "missing")
    assert result.returncode == 1
    assert "UNKNOWN_TOPIC_OR_PARTITION" in result.stderr
    result = flowlog(broker, "topics", "create", "bad", "--config", "retention.ms=soon")
    assert result.returncode == 1 and "retention.ms" in result.stderr


def test_broker_command_rejects_bad_flags(tmp_path: Path) -> None:
    for args in (["--listen", "nope"], ["--config", "no.such.key=1"],
                 ["--config", "num.partitions=0"], ["--node-id", "x"]):
        result = flowlog(None, "broker", "--data-dir", str(tmp_path), *args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
