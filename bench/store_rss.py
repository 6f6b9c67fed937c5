"""Memory check of the RocksDB key-value store: RSS should stay flat as keys grow.

    python -m bench.store_rss [--keys 1000000] [--value-bytes 50] [--cache-mib 64]

Writes distinct keys in write batches of 1,000 (each with a checkpoint, as a
task commit would) into one RocksKeyValueStore under one RocksResources budget,
and prints the process RSS (VmRSS of /proc/self/status) every 100,000 keys,
with the shared cache's and write-buffer manager's usage. Not part of the test
suite; run it by hand. Linux only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from flowlog_streams.stores import RocksKeyValueStore, RocksResources

BATCH_KEYS = 1_000
REPORT_EVERY_KEYS = 100_000
MIB = 1024 * 1024


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-bytes", type=int, default=50)
    parser.add_argument("--cache-mib", type=int, default=64)
    parser.add_argument("--directory", type=Path, default=None, help="where the store goes (default: a temp dir)")
    arguments = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="store-rss-", dir=arguments.directory))
    resources = RocksResources(arguments.cache_mib * MIB)
    store = RocksKeyValueStore("rss", directory / "store", resources)
    filler = os.urandom(arguments.value_bytes)
    print(f"{'keys':>9} {'rss MiB':>8} {'cache MiB':>9} {'memtables MiB':>13} {'keys/s':>8}")
    print(f"{0:>9} {rss_bytes() / MIB:>8.1f}")
    started = time.perf_counter()
    try:
        for first in range(0, arguments.keys, BATCH_KEYS):  # bounded by --keys
            last = min(first + BATCH_KEYS, arguments.keys)
            # Keys spread over the key space (not appended in order), as hashed keys are.
            puts = [((index * 2_654_435_761 % 2**32).to_bytes(4, "big") + index.to_bytes(4, "big"), filler)
                    for index in range(first, last)]
            store.write(puts, {"bench:0": last})
            if last % REPORT_EVERY_KEYS == 0 or last == arguments.keys:
                statistics = resources.statistics()
                rate = last / (time.perf_counter() - started)
                print(f"{last:>9} {rss_bytes() / MIB:>8.1f} {statistics.cache_usage_bytes / MIB:>9.1f}"
                      f" {statistics.write_buffer_usage_bytes / MIB:>13.1f} {rate:>8.0f}", flush=True)
        print(f"approximate entries: {store.approximate_num_entries()}, "
              f"on disk: {sum(f.stat().st_size for f in (directory / 'store').iterdir()) / MIB:.1f} MiB")
    finally:
        store.close()
        resources.close()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
