"""The apps' command line: one clear line and exit 1 when the broker is unreachable,
exit 2 on bad arguments. (Clean stops on SIGTERM are checked by the end-to-end tests.)"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60.0


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", *arguments], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_an_unreachable_broker_is_one_line_and_exit_1(tmp_path: Path) -> None:
    address = f"127.0.0.1:{closed_port()}"
    # Both at once: each waits for the broker for a few seconds before giving up.
    runs = [
        start("apps.activity_tracking", "run", "--bootstrap", address,
              "--state-dir", str(tmp_path)),
        start("apps.metrics_rollup", "generate", "--bootstrap", address, "--events", "10",
              "--seed", "1"),
    ]
    for process, name in zip(runs, ("activity-tracking", "metrics-rollup"), strict=True):
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
        assert process.returncode == 1, stdout + stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, stderr
        assert lines[0].startswith(f"{name}: cannot reach the broker at {address}"), stderr


def test_bad_arguments_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "apps.metrics_rollup", "generate",
                           "--bootstrap", "127.0.0.1:1", "--events", "10", "--seed", "1",
                           "--rate", "0"], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == 2
    assert "--rate > 0" in done.stderr
