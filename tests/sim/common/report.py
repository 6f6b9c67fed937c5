"""A seed's outcome as text: None when it passes, else a report whose first line is the
command that replays it exactly, then the error and the last events of the run."""

from __future__ import annotations

import contextlib
import traceback
from collections import Counter
from collections.abc import Callable, Iterator

from .loop import SimLoop


def replay_command(module: str, **options: object) -> str:
    """`python -m <module> --<option> <value> ...`, options in the order given."""
    flags = " ".join(f"--{name} {value}" for name, value in options.items())
    return f"python -m {module} {flags}"


@contextlib.contextmanager
def trace_in_failures(loop: SimLoop, lines: int) -> Iterator[None]:
    """An exception leaving the block carries the loop's last events as notes."""
    try:
        yield
    except Exception as error:
        for time_ms, what, detail in list(loop.trace)[-lines:]:
            error.add_note(f"  {time_ms:>7} ms  {what} {detail if detail is not None else ''}")
        raise


def run_one(replay: str, run: Callable[[], SimLoop], stats: Counter[str] | None = None) -> str | None:
    """Run one seed; a failed invariant and a crash of the simulation alike become a
    report, so a long run goes on to the next seed."""
    try:
        loop = run()
    except AssertionError as error:
        return (f"REPLAY: {replay}\n{type(error).__name__}: {error}\n"
                f"last events:\n{_notes(error)}")
    except Exception as error:
        return f"REPLAY: {replay}\n{traceback.format_exc()}last events:\n{_notes(error)}"
    if stats is not None:
        stats.update(loop.stats)
    return None


def _notes(error: BaseException) -> str:
    return "\n".join(getattr(error, "__notes__", []))
