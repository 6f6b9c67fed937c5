"""Run tests/streams/e2e_app.py (or another app module) as a child process and follow its output (test helper).

Each line is kept with the monotonic time it was read. The tasks an instance
holds come from the runtime's own log lines ("task 0_3 started on e2e-in-3",
"task 0_3 closed (revoked)"); "TASKS ..." lines (from `app.metrics()`) and
"STATE ..." lines come from the app module.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 30.0
# Lines kept per process: far above what a test produces.
LINES_MAX = 200_000
# Notified on every line from any process, so waits span processes without polling.
CHANGED = threading.Condition()

TASK_STARTED = re.compile(r"flowlog_streams\.runtime INFO task (\d+_\d+) started on ")
TASK_CLOSED = re.compile(r"flowlog_streams\.runtime INFO task (\d+_\d+) closed \(([^)]*)\)")
STATE = re.compile(r"^STATE (\w+) -> (\w+)$")
TASKS = re.compile(r"^TASKS (.*)$")


class AppProcess:
    """`python -m tests.streams.e2e_app ...` with its stdout and stderr read line by line."""

    def __init__(self, name: str, bootstrap: str, application_id: str, state_dir: Path,
                 *options: str, module: tuple[str, ...] = ("tests.streams.e2e_app",)) -> None:
        """`module`: what follows `python -m` (a module, then any subcommand)."""
        self.name = name
        command = [sys.executable, "-u", "-m", *module, "--bootstrap", bootstrap,
                   "--application-id", application_id, "--state-dir", str(state_dir), *options]
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[tuple[float, str]] = []
        self.finished = False
        self._sigterm_sent = False
        threading.Thread(target=self._pump, name=f"pump-{name}", daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with CHANGED:
                if len(self.lines) < LINES_MAX:
                    self.lines.append((time.monotonic(), line.rstrip("\n")))
                CHANGED.notify_all()
        with CHANGED:
            self.finished = True
            CHANGED.notify_all()

    # ---------------------------------------------------------------- what it said

    def _snapshot(self) -> list[tuple[float, str]]:
        with CHANGED:
            return list(self.lines)

    def task_events(self) -> list[tuple[float, str, str]]:
        """(time read, task id, "started" or the reason it closed), in order."""
        events = []
        for at, line in self._snapshot():
            if match := TASK_STARTED.search(line):
                events.append((at, match.group(1), "started"))
            elif match := TASK_CLOSED.search(line):
                events.append((at, match.group(1), match.group(2)))
        return events

    def held_tasks(self) -> set[str]:
        """Tasks running now, by the runtime's started/closed log lines."""
        held: set[str] = set()
        for _at, task, what in self.task_events():
            if what == "started":
                held.add(task)
            else:
                held.discard(task)
        return held

    def reported_tasks(self) -> set[str] | None:
        """Tasks in the last "TASKS" line (from app.metrics()), None before the first."""
        last = None
        for _at, line in self._snapshot():
            if match := TASKS.match(line):
                last = {t for t in match.group(1).split(",") if t}
        return last

    def states(self) -> list[str]:
        return [m.group(2) for _at, line in self._snapshot() if (m := STATE.match(line))]

    def is_running_state(self) -> bool:
        states = self.states()
        return bool(states) and states[-1] == "RUNNING"

    def output(self, last: int | None = None) -> str:
        lines = [line for _at, line in self._snapshot()]
        if last is not None:
            lines = lines[-last:]
        return "\n".join(lines)

    def describe(self, last: int = 60) -> str:
        code = self.process.poll()
        status = "running" if code is None else f"exited {code}"
        return f"--- {self.name} ({status}), last {last} lines:\n{self.output(last)}"

    # ---------------------------------------------------------------- lifecycle

    def alive(self) -> bool:
        return self.process.poll() is None

    def send_sigterm(self) -> None:
        """Ask for a clean stop (commit, leave the group), once: the app listens for the first
        SIGTERM only, and a second one during its shutdown would kill it."""
        if not self._sigterm_sent and self.process.poll() is None:
            self._sigterm_sent = True
            self.process.send_signal(signal.SIGTERM)

    def terminate(self, timeout_s: float = WAIT_S) -> int:
        """SIGTERM (a clean stop: commit, leave the group) and wait for the exit code."""
        self.send_sigterm()
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} did not exit within {timeout_s:.0f} s of SIGTERM\n{self.describe()}"
            ) from None
        wait_until(lambda: self.finished, 5.0, lambda: f"the end of {self.name}'s output")
        return code

    def kill(self) -> None:
        """kill -9: nothing is committed or closed."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT_S)


def describe_all(apps: Iterable[AppProcess]) -> str:
    return "\n".join(app.describe() for app in apps)


def wait_until(condition: Callable[[], bool], timeout_s: float,
               what: Callable[[], str], *, alive: Iterable[AppProcess] = ()) -> float:
    """Wait for a condition over processes' output, re-checked on every new line.

    Fails at the deadline, or as soon as one of `alive` has exited; returns the seconds waited.
    """
    must_live = list(alive)
    started = time.monotonic()
    deadline = started + timeout_s
    with CHANGED:
        while not condition():
            dead = [app for app in must_live if not app.alive()]
            if dead:
                raise AssertionError(
                    f"{', '.join(a.name for a in dead)} exited while waiting for {what()}\n"
                    + describe_all(must_live)
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout_s:.0f} s waiting for {what()}\n"
                    + describe_all(must_live)
                )
            # Wake up now and then even without output, to notice a silent exit.
            CHANGED.wait(min(remaining, 0.5))
    return time.monotonic() - started
