"""`flowlog produce TOPIC`: one record per line of stdin or a file."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from flowlog.cli.common import (
    UsageError,
    add_client_options,
    bootstrap_servers,
    client_options,
    run_client_command,
)
from flowlog.cli.output import print_json
from flowlog.client import DeliveryHandle, Producer

# Records accepted but not yet acknowledged before send() waits (and so the progress bar moves).
PROGRESS_EVERY_RECORDS = 1000


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("produce", help="produce lines from stdin or a file")
    parser.add_argument("topic")
    parser.add_argument("--file", type=Path, help="read lines from this file (default stdin)")
    parser.add_argument("--key-separator", metavar="SEP",
                        help="split each line at the first SEP into key and value")
    parser.add_argument("--partition", type=int, default=None, help="send every line here")
    parser.add_argument("--acks", choices=["all", "1", "0"], default="all")
    parser.add_argument("--compression", choices=["none", "gzip", "snappy", "lz4", "zstd"],
                        default="none")
    add_client_options(parser)
    parser.set_defaults(run=lambda args: run_client_command(produce, args))


def _lines(source: BinaryIO) -> Iterator[bytes]:
    for line in source:
        yield line.rstrip(b"\r\n")


def _split(line: bytes, separator: bytes | None) -> tuple[bytes | None, bytes]:
    if separator is None:
        return None, line
    key, found, value = line.partition(separator)
    if not found:
        raise UsageError(f"line without the key separator {separator!r}: {line[:80]!r}")
    return key, value


async def produce(args: argparse.Namespace) -> int:
    if args.file is not None and not args.file.is_file():
        raise UsageError(f"no such file: {args.file}")
    separator = args.key_separator.encode() if args.key_separator else None
    per_partition: Counter[int] = Counter()
    records = 0
    payload_bytes = 0
    started = time.monotonic()
    progress = FileProgress(args.file) if args.file is not None and not args.json else None
    source = args.file.open("rb") if args.file is not None else sys.stdin.buffer
    try:
        async with Producer(bootstrap_servers(args), **client_options(
            args, acks=args.acks if args.acks == "all" else int(args.acks),
            compression_type=args.compression,
        )) as producer:
            handles: list[DeliveryHandle] = []
            for line in _lines(source):
                key, value = _split(line, separator)
                handles.append(await producer.send(args.topic, value, key=key,
                                                   partition=args.partition))
                records += 1
                payload_bytes += len(line) + 1
                if records % PROGRESS_EVERY_RECORDS == 0:
                    per_partition.update(await _settle(handles))
                    handles.clear()
                    if progress is not None:
                        progress.advance(payload_bytes)
            await producer.flush()
            per_partition.update(await _settle(handles))
    finally:
        if args.file is not None:
            source.close()
        if progress is not None:
            progress.finish(payload_bytes)
    elapsed_s = time.monotonic() - started
    summary = {
        "topic": args.topic, "records": records, "bytes": payload_bytes,
        "seconds": round(elapsed_s, 3),
        "partitions": {str(p): n for p, n in sorted(per_partition.items())},
    }
    if args.json:
        print_json(summary)
    else:
        spread = ", ".join(f"p{p}: {n}" for p, n in sorted(per_partition.items())) or "none"
        print(f"produced {records} records ({payload_bytes} bytes) to {args.topic} "
              f"in {elapsed_s:.2f} s ({spread})", file=sys.stderr)
    return 0


async def _settle(handles: list[DeliveryHandle]) -> Counter[int]:
    """Wait for acknowledgements; a failed record raises its error."""
    landed: Counter[int] = Counter()
    for handle in handles:
        metadata = await handle.wait()
        landed[metadata.partition] += 1
    return landed


class FileProgress:
    """A byte-count progress bar on stderr for --file (rich, when stderr is a terminal)."""

    def __init__(self, path: Path) -> None:
        from rich.progress import Progress

        self._progress = Progress(transient=True, disable=not sys.stderr.isatty())
        self._task = self._progress.add_task(f"producing {path.name}", total=path.stat().st_size)
        self._progress.start()

    def advance(self, done_bytes: int) -> None:
        self._progress.update(self._task, completed=done_bytes)

    def finish(self, done_bytes: int) -> None:
        self._progress.update(self._task, completed=done_bytes)
        self._progress.stop()
