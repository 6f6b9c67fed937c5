"""kcat (Debian's, librdkafka 2.0.2): metadata, produce from a file, consume byte for byte."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

KCAT = shutil.which("kcat")
# `make test` installs kcat and sets FLOWLOG_REQUIRE_KCAT, so there a missing kcat fails.
pytestmark = pytest.mark.skipif(
    KCAT is None and not os.environ.get("FLOWLOG_REQUIRE_KCAT"),
    reason="kcat is not installed (make test installs it)",
)
TIMEOUT_S = 60


def kcat(*args: str, stdin: bytes | None = None) -> bytes:
    assert KCAT is not None
    result = subprocess.run([KCAT, *args], input=stdin, capture_output=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_kcat_produce_file_and_consume_back(broker, tmp_path: Path, codec: str) -> None:  # type: ignore[no-untyped-def]
    topic = f"kcat-{codec}"
    lines = [f"line {i} " + "x" * (i % 50) for i in range(1000)]
    source = tmp_path / "input.txt"
    source.write_text("\n".join(lines) + "\n")
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-z", codec, "-l", str(source))
    consumed = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning",
                    "-e", "-q", "-f", "%s\n")
    assert consumed == source.read_bytes()


def test_kcat_metadata_lists_topic(broker) -> None:  # type: ignore[no-untyped-def]
    kcat("-b", broker.bootstrap, "-P", "-t", "listed", "-p", "0", stdin=b"hello\n")
    listing = kcat("-b", broker.bootstrap, "-L").decode()
    assert 'topic "listed" with 1 partitions' in listing
    assert f"broker 1 at {broker.bootstrap}" in listing
