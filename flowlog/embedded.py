"""An in-process broker for tests and notebooks.

    async with flowlog.embedded_broker() as broker:      # trio code
        ... broker.bootstrap ...

    with flowlog.BrokerThread() as broker:               # sync code (e.g. confluent-kafka)
        ... broker.bootstrap ...

Synchronous Kafka clients block the thread they run on, so for them the
broker runs on its own trio loop in a background thread.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType

import trio

from flowlog.broker.broker import Broker
from flowlog.broker.config import BrokerConfig

STARTUP_TIMEOUT_S = 30.0


def _config(data_dir: Path, settings: Mapping[str, str] | None) -> BrokerConfig:
    return BrokerConfig.from_settings(
        data_dir=data_dir, listen="127.0.0.1:0", settings=dict(settings or {})
    )


@asynccontextmanager
async def embedded_broker(
    data_dir: str | Path | None = None, config: Mapping[str, str] | None = None
) -> AsyncIterator[Broker]:
    """Run a broker on 127.0.0.1 (free port) in the current trio run."""
    with tempfile.TemporaryDirectory(prefix="flowlog-") as scratch:
        broker = Broker(_config(Path(data_dir) if data_dir else Path(scratch), config))
        async with trio.open_nursery() as nursery:
            await nursery.start(broker.run)
            try:
                yield broker
            finally:
                nursery.cancel_scope.cancel()


class BrokerThread:
    """A broker on its own trio loop in a daemon thread; a context manager."""

    def __init__(
        self, data_dir: str | Path | None = None, config: Mapping[str, str] | None = None
    ) -> None:
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="flowlog-")
            data_dir = self._scratch.name
        self.data_dir = Path(data_dir)
        self._settings = dict(config or {})
        self._ready = threading.Event()
        self._stop: trio.CancelScope | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.broker: Broker | None = None

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None, "the broker is not running"
        return self.broker.bootstrap

    def start(self) -> BrokerThread:
        self._thread = threading.Thread(target=self._main, name="flowlog-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT_S):
            raise TimeoutError("embedded broker did not start in time")
        if self._error is not None:
            raise RuntimeError("embedded broker failed to start") from self._error
        return self

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as error:  # reported to the starting thread
            self._error = error
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        broker = Broker(_config(self.data_dir, self._settings))
        with trio.CancelScope() as scope:
            self._stop = scope
            async with trio.open_nursery() as nursery:
                await nursery.start(broker.run)
                self.broker = broker
                self._ready.set()

    def stop(self) -> None:
        if self._token is not None and self._stop is not None:
            stop = self._stop
            try:
                trio.from_thread.run_sync(stop.cancel, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        if self._thread is not None:
            self._thread.join(STARTUP_TIMEOUT_S)
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self) -> BrokerThread:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
