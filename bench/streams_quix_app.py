"""The streams benchmark's pipeline written with Quix Streams (PyPI ``quixstreams``).

Runs in its own venv (``.venv-quix``, see bench/requirements-quix.txt), so it imports
nothing from flowlog or from the ``bench`` package; the harness starts it as a script:

    .venv-quix/bin/python bench/streams_quix_app.py --bootstrap 127.0.0.1:PORT \
        --input bench-input --output bench-output-quix --group bench-quix-<unique> \
        --state-dir DIR

filter(page != "/health") -> apply(value -> page string) -> to_topic(str values). Keys stay
the input's bytes. Runs until SIGTERM/SIGINT (Quix's ``app.run()`` handles both).
"""

from __future__ import annotations

import argparse
import sys

from loopback import is_loopback  # bench/ is on the path: run as a script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", required=True, help="Quix's state dir (unused: stateless)")
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
    )
    source = app.topic(args.input, value_deserializer="json", key_deserializer="bytes")
    sink = app.topic(args.output, value_serializer="str", key_serializer="bytes")
    sdf = app.dataframe(source)
    sdf = sdf.filter(lambda v: v["page"] != "/health")
    sdf = sdf.apply(lambda v: v["page"])
    sdf.to_topic(sink)
    print("quix app running", flush=True)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
