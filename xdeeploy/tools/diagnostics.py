"""How the tools turn an exception into the one-line `error: …` they print."""

from __future__ import annotations

from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError

from xdeeploy.errors import DeeployError

USER_ERRORS: tuple[type[BaseException], ...] = (
    DeeployError,
    DiagnosticException,
    ParseError,
    ArgSpecParseError,
    OSError,
)
"""Exceptions that describe a problem with the user's input, not a bug in xdeeploy."""


def one_line(text: str) -> str:
    """Collapses a message onto one line: the tools promise one line per error."""
    return " ".join(text.split())


def describe(e: BaseException) -> str:
    """The one-line message for a user error (see `USER_ERRORS`)."""
    if isinstance(e, DeeployError):
        return one_line(str(e))
    if isinstance(e, ParseError):
        return f"{e.span.get_location()}: {one_line(e.msg)}"
    if isinstance(e, OSError) and e.filename:
        return f"cannot read '{e.filename}': {e.strerror}"
    if isinstance(e, DiagnosticException):
        # xDSL verifier diagnostics print the whole module after the message.
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        errors = [line for line in lines if "rror" in line or "xpected" in line]
        return one_line((errors or lines or [type(e).__name__])[0])
    return one_line(str(e))
