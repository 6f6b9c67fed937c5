"""The stateful streams benchmark's windowed count written with Quix Streams (issue 11).

Runs in its own venv (``.venv-quix``, see bench/requirements-quix.txt), so it imports
nothing from flowlog or from the ``bench`` package; the harness starts it as a script:

    .venv-quix/bin/python bench/streams_state_quix_app.py --bootstrap 127.0.0.1:PORT \
        --input state-input --output state-output-quix --group bench-state-quix-<unique> \
        --state-dir DIR [--commit-interval 1.0]

``sdf.tumbling_window(60_000).count().current()`` (1-minute tumbling windows, grace 0,
closing strategy "key", every update emitted) -> ``to_topic`` (key: the input key's bytes;
value: JSON ``{"start": ms, "end": ms, "value": count}``). State on Quix's RocksDB with its
changelog topic (both Quix defaults). ``commit_interval=1.0`` s, the flowlog_streams app's
commit interval (Quix's default is 5 s); every other setting at Quix's default. Runs until
SIGTERM/SIGINT (Quix's ``app.run()`` handles both).
"""

from __future__ import annotations

import argparse
import sys

from loopback import is_loopback  # bench/ is on the path: run as a script

WINDOW_MS = 60_000




def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--commit-interval", type=float, default=1.0,
                        help="seconds between Quix checkpoints (commits); Quix's default is 5")
    parser.add_argument("--loglevel", default="INFO")  # Quix's default
    args = parser.parse_args()
    if not is_loopback(args.bootstrap):
        print(f"refusing non-loopback bootstrap {args.bootstrap}", file=sys.stderr)
        return 2

    from quixstreams import Application

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        loglevel=args.loglevel,
        state_dir=args.state_dir,
        commit_interval=args.commit_interval,
    )
    source = app.topic(args.input, key_deserializer="bytes", value_deserializer="bytes")
    sink = app.topic(args.output, key_serializer="bytes", value_serializer="json")
    sdf = app.dataframe(source)
    sdf = sdf.tumbling_window(WINDOW_MS).count().current()
    sdf.to_topic(sink)
    print("quix app running", flush=True)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
