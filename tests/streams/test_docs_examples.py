"""The runnable examples of docs/streams.md's join and table sections run and print what they say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "streams.md"
SECTIONS = ("## Stream-stream joins", "## Tables and global tables", "## Joins with tables")


def examples() -> list[tuple[str, str]]:
    text = DOC.read_text()
    found = []
    for heading in SECTIONS:
        start = text.index(heading)
        end = text.find("\n## ", start + len(heading))
        for code in re.findall(r"```python\n(.*?)```", text[start:end], re.S):
            found.append((heading, code))
    return found


@pytest.mark.parametrize(("heading", "code"), examples())
def test_example_runs_and_prints_its_comment(heading: str, code: str) -> None:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"{DOC.name}: {heading}", "exec"), {"__name__": "docs_example"})
    # A `print(...)` is followed by a comment showing its output: `# <output>`.
    promised = [line.strip()[2:] for line in code.splitlines()
                if line.strip().startswith("# [") or line.strip().startswith("# (")]
    assert printed.getvalue().split("\n")[:-1] == promised
