"""`flowlog cluster up`: three local brokers, a bootstrap list, a clean stop on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from cluster_helpers import describe_json, wait_for

UP_TIMEOUT_S = 60


def test_cluster_up_runs_three_nodes_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "flowlog", "cluster", "up", "--nodes", "3",
         "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        bootstrap = ""
        for line in process.stdout:
            if "bootstrap: " in line:
                bootstrap = line.split("bootstrap: ", 1)[1].strip()
                break
        assert bootstrap.count(",") == 2, bootstrap
        document = wait_for(
            "three live brokers",
            lambda: (d := describe_json(bootstrap))
            and [b["state"] for b in d["brokers"]] == ["alive"] * 3 and d,
        )
        assert document["controller"]["leader"] in (1, 2, 3)
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=UP_TIMEOUT_S)[0]
        assert process.returncode == 0, rest
        assert "flowlog cluster stopped" in rest
        for node in (1, 2, 3):
            assert "stopped cleanly" in (tmp_path / f"node-{node}.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
