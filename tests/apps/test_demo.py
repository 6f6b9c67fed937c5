"""`make demo` (= `flowlog demo`) in a pseudo-terminal, shortened: it starts its broker,
shows the live view, stops cleanly and exits 0; the last frame on screen is checked."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS, COLUMNS = 50, 120
DURATION_S = "8"
RUN_TIMEOUT_S = 90.0
# Colours, cursor moves, line erases and the like (CSI sequences), and OSC titles.
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
# rich redraws its live view by moving the cursor up over the previous frame.
FRAME_START = re.compile(r"\x1b\[\d*A")


def run_in_terminal(command: list[str]) -> tuple[int, str]:
    """Run `command` on a pseudo-terminal of ROWS x COLUMNS; its exit code and output."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    process = subprocess.Popen(command, cwd=ROOT, stdin=follower, stdout=follower,
                               stderr=follower, start_new_session=True,
                               env={**os.environ, "TERM": "xterm-256color"})
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError as error:  # EIO: the terminal's last writer has gone
                if error.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    return code, b"".join(chunks).decode(errors="replace")


def last_frame(output: str) -> str:
    """What the screen shows at the end: the text after the last redraw, escapes removed."""
    starts = [m.start() for m in FRAME_START.finditer(output)]
    return ESCAPES.sub("", output[starts[-1]:] if starts else output)


def test_make_demo_runs_live_in_a_terminal_and_exits_0() -> None:
    bin_dir = Path(sys.executable).parent
    # -o: use this venv as it is (no re-install); BIN: the venv running the tests.
    code, output = run_in_terminal([
        "make", "--no-print-directory", "-o", ".venv/.installed", "demo", f"BIN={bin_dir}",
        f"DEMO_ARGS=--duration {DURATION_S}",
    ])
    screen = last_frame(output)
    assert code == 0, output
    assert "\x1b[" in output, "no terminal control sequences: not a live view"
    assert re.search(r"Top pages, minute \d\d:\d\d UTC", screen), screen
    assert "Views per region" in screen, screen
    assert re.search(r"│\s+1 │ /\S*\s+│\s+\d+ │", screen), "no top page on screen:\n" + screen
    assert re.search(r"│ (eu-west|us-east|us-west|ap-south|sa-east|unknown)\s+│\s+\d+", screen)
    assert re.search(r"input [\d,]+/s .* processed [\d,]+/s .* consumer lag [\d,?]+", screen)
    assert "activity-tracking stopped cleanly (NOT_RUNNING)" in screen, screen
    match = re.search(r"The data was in (\S+) ", screen)
    assert match, screen
    data_dir = Path(match.group(1))
    assert (data_dir / "broker" / "broker.log").is_file()
    shutil.rmtree(data_dir)
