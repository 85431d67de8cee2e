"""The one exception hierarchy of Magnet.

Every error a user can cause (a bad spec file, a malformed call string, an invalid dataset row) is a
``MagnetError`` whose message says what was wrong, where (file, row, function, field) and, where it helps,
how to fix it. Catch ``MagnetError`` to handle all of them.
"""

from __future__ import annotations


class MagnetError(Exception):
    """Base class of every error Magnet raises on purpose."""


class SpecError(MagnetError):
    """A function spec is malformed.

    ``problems`` holds one line per bad field, each naming the source, the function and the JSON path, so
    that a loader can report every bad spec of a file at once.
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        count = len(self.problems)
        if count == 1:  # one problem, one line
            super().__init__(f"invalid function spec: {self.problems[0]}")
        else:
            super().__init__(f"{count} problems in function specs:\n  " + "\n  ".join(self.problems))


class CallParseError(MagnetError):
    """A function call (BFCL text or OpenAI ``tool_calls``) could not be parsed into literal values."""


class ToolkitError(MagnetError):
    """A toolkit is defined or configured wrongly (not a call failure: those become error results)."""


class ExecutionError(MagnetError):
    """An environment could not be built or restored (call failures are results, never exceptions)."""


class DatasetError(MagnetError):
    """A dataset row is invalid; the message names the row index and the field."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        count = len(self.problems)
        if count == 1:  # one problem, one line
            super().__init__(f"invalid row: {self.problems[0]}")
        else:
            super().__init__(f"{count} problems in rows:\n  " + "\n  ".join(self.problems))


class TeacherError(MagnetError):
    """A model request failed for good (after its retries); ``cause`` says why (``rate_limit``, ``timeout``, ...)."""

    def __init__(self, message: str, *, cause: str):
        self.cause = cause
        super().__init__(message)


class StepError(MagnetError):
    """A teacher's answer to a step could not be parsed, even after showing it the error (``attempts`` tries)."""

    def __init__(self, message: str, *, step: str, attempts: int):
        self.step = step
        self.attempts = attempts
        super().__init__(message)


class EndpointRefused(Exception):
    """An endpoint refused a request in a way no retry and no other item can mend (HTTP 4xx: tools offered to a
    server without a tool parser, a wrong model name, a missing key). The message says what was refused and how
    to fix it.

    Deliberately not a ``MagnetError``: per-item handlers catch ``MagnetError`` and reject the item, which here
    would reject every item of a run one by one and leave empty datasets; this one stops the run.
    """
