"""Output for people (aligned tables) and for programs (--json, one document)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import orjson


def report(as_json: bool, document: Any, text: str) -> None:
    """A result: the JSON document for programs, or one line of text for people."""
    if as_json:
        print_json(document)
    else:
        print(text)


def print_json(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    numeric = [
        all(isinstance(row[column], int | float) for row in rows) and bool(rows)
        for column in range(len(headers))
    ]
    lines = []
    for row in cells:
        parts = [
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    print(format_table(headers, rows))
