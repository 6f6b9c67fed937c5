"""Start, watch and stop the brokers under test as subprocesses bound to 127.0.0.1.

A broker's stdout and stderr go to a log file (never a pipe: a chatty broker must not block
on a full pipe mid-benchmark); readiness is the first log line containing ``ready``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench import tansu

HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# Named flush policies for the harness's ``--flush`` option -> flowlog broker configs (Kafka's
# names). "default" passes nothing: the broker's own default, which like Kafka leaves fsync
# to the OS (flush.messages = flush.ms = Long.MAX_VALUE).
FLUSH_HELP = "default | always | messages=N | ms=N"


def flush_configs(policy: str) -> list[str]:
    """``--config`` items for a ``--flush`` policy; ValueError if it is not one."""
    if policy == "default":
        return []
    if policy == "always":
        return ["log.flush.interval.messages=1"]
    kind, _, number = policy.partition("=")
    if kind in ("messages", "ms") and number.isdigit() and int(number) >= 1:
        key = "log.flush.interval.messages" if kind == "messages" else "log.flush.interval.ms"
        return [f"{key}={int(number)}"]
    raise ValueError(f"unknown flush policy {policy!r}; expected {FLUSH_HELP}")


class BrokerStartError(RuntimeError):
    """The broker exited, or never said ``ready``, within the timeout.

    ``str()`` is one line; ``log_tail`` holds the end of the broker's output.
    """

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


def free_port(host: str = HOST) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    tail = text.strip().splitlines()[-lines:]
    return "\n".join("    | " + line for line in tail) or "    | (empty log)"


@dataclass
class BrokerProcess:
    """One broker subprocess; use as a context manager so it is always stopped."""

    name: str
    command: list[str]
    port: int
    workdir: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            try:
                self.proc = subprocess.Popen(
                    self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    env=self.env,
                    start_new_session=True,  # a Ctrl-C on the harness is handled by us
                )
            except OSError as exc:
                msg = f"{self.name}: cannot execute {self.command[0]}: {exc}"
                raise BrokerStartError(msg) from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerStartError(
                    f"{self.name} exited with code {self.proc.returncode} before it was ready",
                    _log_tail(self.log_path),
                )
            if "ready" in self.log_path.read_text(errors="replace").lower():
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerStartError(
            f"{self.name} printed no 'ready' line within {timeout:.0f}s",
            _log_tail(self.log_path),
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float | None:
        """User+system CPU the broker process has used so far (Linux /proc), else None."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        # After the ")" that ends the command name, utime and stime are fields 12 and 13.
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_mib(self) -> float | None:
        """Resident memory of the broker process now, in MiB (Linux /proc), else None."""
        if self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            return None
        return None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period. Only ever signals our own child."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> BrokerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def tansu_broker(workdir: Path) -> BrokerProcess:
    """An in-memory Tansu broker on a free loopback port (not started yet)."""
    binary = tansu.find_tansu_binary()
    port = free_port()
    return BrokerProcess(
        name="tansu",
        command=tansu.tansu_command(binary, HOST, port),
        port=port,
        workdir=workdir,
        env=tansu.tansu_env(),
    )


def flowlog_broker(workdir: Path, config: list[str]) -> BrokerProcess:
    """``python -m flowlog broker`` with a fresh data dir on a free loopback port."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "flowlog",
        "broker",
        "--data-dir",
        str(workdir / "data"),
        "--listen",
        f"{HOST}:{port}",
    ]
    for item in config:
        command += ["--config", item]
    return BrokerProcess(name="flowlog", command=command, port=port, workdir=workdir)


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"flowlog-bench-{prefix}-"))


def remove_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
