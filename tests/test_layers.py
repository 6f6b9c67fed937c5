"""Imports point down the layer order of architecture.md; sans-IO cores stay free of I/O.

Layer order, lowest first:
    flowlog.protocol < flowlog.storage < flowlog.raft < flowlog.controller
    < flowlog.replication < flowlog.broker < flowlog.client < flowlog (top-level modules: cli, embedded...)
    < flowlog_streams < apps
A module may import its own layer and the layers below it. flowlog_streams may
use only flowlog.client and flowlog.protocol of flowlog, so it runs against any
Kafka-compatible cluster.

Sans-IO cores (may not import trio, time or random; time and randomness are
passed in): everything in flowlog/protocol/, and any module named `*_core.py`
or `*_state.py` (the Raft core, the group state machine, the metadata state).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [
    "flowlog.protocol",
    "flowlog.storage",
    "flowlog.raft",
    "flowlog.controller",
    "flowlog.replication",  # sans-IO replication cores, under the broker's shell
    "flowlog.broker",
    "flowlog.client",
    "flowlog",
    "flowlog_streams",
    "apps",
]
STREAMS_MAY_USE = ("flowlog.client", "flowlog.protocol", "flowlog_streams")
SANS_IO_FORBIDDEN = {"trio", "time", "random"}


def layer_of(module: str) -> int | None:
    """Index of the most specific layer that `module` belongs to."""
    best: int | None = None
    best_len = -1
    for index, prefix in enumerate(LAYERS):
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
            best, best_len = index, len(prefix)
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from flowlog import broker` imports the broker layer.
            for alias in node.names:
                found.append((node.lineno, f"{target}.{alias.name}"))
    return found


def source_files() -> list[Path]:
    files: list[Path] = []
    for top in ("flowlog", "flowlog_streams", "apps"):
        if (ROOT / top).is_dir():
            files.extend(sorted((ROOT / top).rglob("*.py")))
    return files


def is_sans_io_core(path: Path) -> bool:
    relative = path.relative_to(ROOT)
    if relative.parts[:2] == ("flowlog", "protocol"):
        return True
    return path.stem.endswith("_core") or path.stem.endswith("_state")


def is_first_party(module: str) -> bool:
    return module.split(".")[0] in {"flowlog", "flowlog_streams", "apps"}


def test_there_are_sources_to_check() -> None:
    assert any(p.parts[-2] == "protocol" for p in source_files())


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    own = layer_of(module_name(path))
    assert own is not None, f"{path} is in no layer"
    problems = []
    for line, target in imported_modules(path):
        if not is_first_party(target):
            continue
        # `from flowlog.storage import log` yields both flowlog.storage and
        # flowlog.storage.log; a bare `flowlog` attribute import is the package itself.
        target_layer = layer_of(target)
        if target_layer is not None and target_layer > own:
            problems.append(f"line {line}: {target} is above {LAYERS[own]}")
        if module_name(path).startswith("flowlog_streams") and target.startswith("flowlog"):
            if not target.startswith(STREAMS_MAY_USE) and target != "flowlog":
                problems.append(f"line {line}: flowlog_streams may not use {target}")
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)


@pytest.mark.parametrize(
    "path",
    [p for p in source_files() if is_sans_io_core(p)],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_sans_io_cores_do_no_io(path: Path) -> None:
    bad = [
        f"line {line}: {target}"
        for line, target in imported_modules(path)
        if target.split(".")[0] in SANS_IO_FORBIDDEN
    ]
    assert not bad, f"sans-IO core {path.relative_to(ROOT)} imports " + ", ".join(bad)


def test_checker_catches_an_upward_import(tmp_path: Path) -> None:
    # The checker itself must be able to fail: an import of the broker from the
    # protocol layer is found.
    fake = ROOT / "flowlog" / "protocol" / "_layer_probe.py"
    fake.write_text("from flowlog.broker import server\nimport trio\n")
    try:
        found = imported_modules(fake)
        assert any(layer_of(t) == LAYERS.index("flowlog.broker") for _, t in found)
        assert any(t == "trio" for _, t in found) and is_sans_io_core(fake)
    finally:
        fake.unlink()
