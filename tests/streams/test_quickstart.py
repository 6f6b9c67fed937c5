"""The docs' runnable example (apps/streams_quickstart.py) keeps running and printing its result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quickstart_runs_on_an_embedded_broker() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "apps.streams_quickstart"], cwd=ROOT, capture_output=True,
        text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert ["u1 -> /home", "u1 -> /pricing", "u3 -> /home"] == [
        line for line in lines if " -> " in line
    ]
    assert "app state: NOT_RUNNING; processed 4 records" in lines
    assert "Sub-topology: 0" in done.stdout
