"""What every step parser shares: the ``AnswerError`` it raises (shown to the model on the retry) and the
answer's text, refused when it cannot be written as UTF-8.

Kept apart so that the per-step parsers (``parsers_labels``, ``parsers_dependencies``, ``parsers_verdicts``,
``parsers_translation``, ``parsers_simulation``) depend on it and not on each other.
"""

from __future__ import annotations

from magnet.errors import MagnetError
from magnet.llm.client import Completion


class AnswerError(MagnetError):
    """An answer that does not fit the step's format; the message is shown to the model on the retry."""


def answer_text(completion: Completion) -> str:
    """The answer's text (``""`` for none); text that cannot be written as UTF-8 (a lone surrogate) is refused."""
    text = completion.text
    if text is None:
        return ""
    if not isinstance(text, str):
        raise AnswerError(f"expected a text answer, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise AnswerError(
            f"the answer has an invalid character (a lone surrogate) at position {error.start}; write plain text"
        ) from None
    return text
