"""Shared fixtures: real broker processes on 127.0.0.1 with free ports."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

READY_PATTERN = re.compile(r"flowlog broker ready on (\S+)")
START_TIMEOUT_S = 30.0


class BrokerProcess:
    """`flowlog broker` as a child process; restartable on the same data dir."""

    def __init__(self, data_dir: Path, config: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.config = dict(config or {})
        self.process: subprocess.Popen[str] | None = None
        self.bootstrap = ""
        self.port = 0
        self.output: list[str] = []

    def start(self) -> BrokerProcess:
        listen = f"127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "flowlog", "broker", "--data-dir", str(self.data_dir),
                   "--listen", listen]
        for key, value in self.config.items():
            command += ["--config", f"{key}={value}"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                match = READY_PATTERN.search(line)
                if match and not ready.is_set():
                    self.bootstrap = match.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or not self.bootstrap:
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
