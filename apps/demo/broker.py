"""A standalone `flowlog broker` as a child process for the demo: 127.0.0.1, a free port,
its own data dir, its output in `<data dir>/broker.log`."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

READY = re.compile(rb"flowlog broker ready on (\S+)")
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
# Broker output kept in memory while looking for the ready line.
READY_SEARCH_BYTES_MAX = 1 << 20


class BrokerStartError(Exception):
    pass


@asynccontextmanager
async def standalone_broker(data_dir: Path) -> AsyncIterator[str]:
    """Start the broker, yield its address, stop it with SIGTERM (a clean shutdown).

    It runs in its own session: Ctrl-C at the terminal reaches the demo, which stops the
    app first (it commits through the broker) and the broker last."""
    await trio.Path(data_dir).mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "broker.log"
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "flowlog", "broker", "--data-dir", str(data_dir),
         "--listen", "127.0.0.1:0", "--log-level", "WARNING",
         "--config", "group.initial.rebalance.delay.ms=0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        async with trio.open_nursery() as nursery:
            address: list[str] = []
            ready = trio.Event()
            nursery.start_soon(_pump, process, log_path, address, ready)
            with trio.move_on_after(STARTUP_TIMEOUT_S):
                await ready.wait()
            if not address:
                raise BrokerStartError(f"the broker did not start; see {log_path}")
            try:
                yield address[0]
            finally:
                nursery.cancel_scope.cancel()
    finally:
        await _stop(process)


async def _pump(process: trio.Process, log_path: Path, address: list[str],
                ready: trio.Event) -> None:
    """Copy the broker's output to its log file, noting its address from the ready line."""
    assert process.stdout is not None
    seen = b""
    async with await trio.open_file(log_path, "ab") as log:
        async for chunk in process.stdout:
            await log.write(chunk)
            await log.flush()
            if not ready.is_set():
                seen = (seen + chunk)[-READY_SEARCH_BYTES_MAX:]
                if match := READY.search(seen):
                    address.append(match.group(1).decode())
                    ready.set()
    ready.set()  # the broker exited


async def _stop(process: trio.Process) -> None:
    with trio.CancelScope(shield=True):
        if process.returncode is None:
            process.terminate()
            with trio.move_on_after(STOP_TIMEOUT_S):
                await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
