"""Progress for long work: a spinner naming the current stage, on a terminal only.

When stderr is not a terminal (CI, pipes, tests) nothing is printed, so logs and the
one-line-per-case reports stay clean.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

Stage = Callable[[str], AbstractContextManager[object]]


def quiet(message: str) -> AbstractContextManager[object]:
    return nullcontext()


@contextmanager
def _spinner(message: str) -> Iterator[None]:
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def stage_reporter() -> Stage:
    """`_spinner` on an interactive terminal, else `quiet`."""
    return _spinner if sys.stderr.isatty() else quiet
