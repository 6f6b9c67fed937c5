"""Shared fixtures: real broker processes on 127.0.0.1 with free ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

READY_PATTERN = re.compile(r"flowlog broker ready on (\S+)")
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A port nobody listens on right now (the OS picks; tiny race before we bind it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BrokerProcess:
    """`flowlog broker` as a child process; restartable on the same data dir.

    With `voters` ("ID@HOST:PORT,...") it is one member of a cluster: it needs its
    `node_id`, a fixed `port` and its `controller_port` (its entry in `voters`).
    """

    def __init__(
        self,
        data_dir: Path,
        config: dict[str, str] | None = None,
        *,
        node_id: int | None = None,
        port: int = 0,
        controller_port: int | None = None,
        voters: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.config = dict(config or {})
        self.node_id = node_id
        self.controller_port = controller_port
        self.voters = voters
        self.process: subprocess.Popen[str] | None = None
        self.bootstrap = ""
        self.port = port
        self.output: list[str] = []
        self._ready = threading.Event()

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "flowlog", "broker", "--data-dir", str(self.data_dir),
                   "--listen", f"127.0.0.1:{self.port}"]
        if self.node_id is not None:
            command += ["--node-id", str(self.node_id)]
        if self.voters is not None:
            command += ["--voters", self.voters,
                        "--controller-listen", f"127.0.0.1:{self.controller_port}"]
        for key, value in self.config.items():
            command += ["--config", f"{key}={value}"]
        return command

    def start(self, wait: bool = True) -> BrokerProcess:
        """Start it; unless `wait` is False, return once it printed its ready line.

        A cluster member is ready only once a quorum is up, so start those with
        wait=False and then wait_ready() each."""
        command = self.command()
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        ready = self._ready = threading.Event()
        self.bootstrap = ""
        process = self.process

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                self.output.append(line)
                match = READY_PATTERN.search(line)
                if match and not ready.is_set():
                    self.bootstrap = match.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> BrokerProcess:
        if not self._ready.wait(timeout_s) or not self.bootstrap:
            self.kill()
            raise RuntimeError("broker did not start:\n" + "".join(self.output))
        # Keep the port across restarts so clients can reconnect to the same address.
        self.port = int(self.bootstrap.rsplit(":", 1)[1])
        return self

    def stop(self) -> int:
        """SIGTERM and wait: a clean shutdown."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        """kill -9: no chance to flush or close anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def restart(self, how: str) -> None:
        """Stop the broker, "sigterm" (a clean shutdown, which must exit 0) or "kill-9",
        and start it again on the same port and data directory."""
        if how == "sigterm":
            assert self.stop() == 0
        elif how == "kill-9":
            self.kill()
        else:
            raise ValueError(f"restart how? {how!r}")
        self.start()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[type[BrokerProcess] | object]:
    started: list[BrokerProcess] = []

    def make(config: dict[str, str] | None = None, data_dir: Path | None = None) -> BrokerProcess:
        directory = data_dir or tmp_path / f"broker-{len(started)}"
        broker = BrokerProcess(directory, config)
        started.append(broker)
        return broker.start()

    yield make
    for broker in started:
        broker.kill()


@pytest.fixture
def broker(broker_factory) -> BrokerProcess:  # type: ignore[no-untyped-def]
    return broker_factory()  # type: ignore[no-any-return]


class ClusterProcesses:
    """Brokers that are also the controller quorum's voters, on free 127.0.0.1 ports."""

    def __init__(self, base_dir: Path, size: int, config: dict[str, str] | None = None) -> None:
        ports = {node_id: (free_port(), free_port()) for node_id in range(1, size + 1)}
        voters = ",".join(f"{node_id}@127.0.0.1:{ports[node_id][1]}" for node_id in ports)
        self.brokers = {
            node_id: BrokerProcess(
                base_dir / f"node-{node_id}", config, node_id=node_id,
                port=client_port, controller_port=controller_port, voters=voters,
            )
            for node_id, (client_port, controller_port) in ports.items()
        }

    def start(self) -> ClusterProcesses:
        for broker in self.brokers.values():
            broker.start(wait=False)
        for broker in self.brokers.values():
            broker.wait_ready()
        return self

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{broker.port}" for broker in self.brokers.values())

    def running(self) -> list[BrokerProcess]:
        return [broker for broker in self.brokers.values() if broker.is_running()]

    def kill(self) -> None:
        for broker in self.brokers.values():
            broker.kill()


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[object]:
    started: list[ClusterProcesses] = []

    def make(size: int = 3, config: dict[str, str] | None = None) -> ClusterProcesses:
        cluster = ClusterProcesses(tmp_path / f"cluster-{len(started)}", size, config)
        started.append(cluster)
        return cluster.start()

    yield make
    for cluster in started:
        cluster.kill()
