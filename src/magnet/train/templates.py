"""Training chat templates: ``{% generation %}`` markers without changing a single token.

Assistant-only losses (SFT's ``assistant_only_loss`` and mDPO's masks) need a chat template that marks the
assistant's tokens. TRL ships training variants of the stock templates it knows (Qwen2.5 among them) and swaps
them in itself; this module picks the variant (``training_template``) and checks, on real rows, the three
properties training relies on: the training template renders exactly the same tokens as the stock one, its
assistant mask covers exactly the assistant turns (every one, ``<|im_end|>`` included), and rendering a prefix
of a conversation gives a prefix of its rendering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from magnet.data.render import render
from magnet.errors import MagnetError


def training_template(tokenizer: Any) -> str:
    """The tokenizer's template if it already has generation markers, else TRL's training variant of it.

    Raises ``MagnetError`` for a template TRL has no variant of: add ``{% generation %}`` markers around the
    assistant turns (``<|im_end|>`` included) and pass it as the tokenizer's chat template.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if not template:
        raise MagnetError("the tokenizer has no chat template")
    if has_generation_markers(template):
        return template
    try:
        variant = get_training_chat_template(tokenizer)
    except ValueError:  # TRL: "patching is not supported for this template"
        variant = None
    if variant is None:
        raise MagnetError(
            "TRL has no training variant of this chat template; add {% generation %} ... "
            "{% endgeneration %} around the assistant turns (the end-of-turn token included)"
        )
    return variant


def _encode(tokenizer: Any, messages: Sequence[Mapping[str, Any]], tools: Any, template: str, **extra: Any):
    return tokenizer.apply_chat_template(
        list(messages), tools=tools, chat_template=template, tokenize=True, return_dict=True, **extra
    )


def template_problems(
    tokenizer: Any, rows: Sequence[Mapping[str, Any]], tool_format: str = "native", template: str | None = None
) -> list[str]:
    """Where the training template departs from the stock one on ``rows`` (empty when it does not):
    different tokens, an assistant mask that is not exactly the assistant turns, or a prefix that renders
    differently. Each problem names the row."""
    template = template or training_template(tokenizer)
    stock = tokenizer.chat_template
    problems = []
    for row in rows:
        messages, tools = render(row, tool_format)
        where = f"row {row.get('id')!r} ({tool_format})"
        ours = _encode(tokenizer, messages, tools, template, return_assistant_tokens_mask=True)
        theirs = _encode(tokenizer, messages, tools, stock)
        if ours["input_ids"] != theirs["input_ids"]:
            problems.append(f"{where}: the training template renders other tokens than the stock one")
            continue
        masked = [tokenizer.decode(span).strip() for span in masked_spans(ours["input_ids"], ours["assistant_masks"])]
        expected = [piece.strip() for piece in assistant_pieces(tokenizer, messages, tools, template)]
        if masked != expected:
            wrong = next((i for i, (a, b) in enumerate(zip(masked, expected, strict=False)) if a != b), None)
            detail = (
                f"assistant turn {wrong}: mask {masked[wrong][:60]!r} != {expected[wrong][:60]!r}"
                if wrong is not None
                else f"{len(masked)} masked spans for {len(expected)} assistant turns"
            )
            problems.append(f"{where}: the assistant mask is not exactly the assistant turns ({detail})")
        text = tokenizer.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=False)
        for end in range(1, len(messages)):
            if messages[end]["role"] == "assistant" and messages[end - 1]["role"] != "assistant":
                prefix = tokenizer.apply_chat_template(
                    messages[:end], tools=tools, chat_template=template, tokenize=False, add_generation_prompt=True
                )
                if not text.startswith(prefix):
                    problems.append(f"{where}: the first {end} messages render to something that is not a prefix")
                    break
    return problems


def masked_spans(input_ids: Sequence[int], mask: Sequence[int]) -> list[list[int]]:
    """The runs of consecutive masked tokens."""
    spans: list[list[int]] = []
    previous = 0
    for token, flag in zip(input_ids, mask, strict=True):
        if flag and not previous:
            spans.append([])
        if flag:
            spans[-1].append(token)
        previous = flag
    return spans


def assistant_pieces(tokenizer: Any, messages: Sequence[Mapping[str, Any]], tools: Any, template: str) -> list[str]:
    """Each assistant message's own rendering: the conversation up to and including it, minus the conversation
    before it with the generation prompt. Consecutive assistant messages form one piece (one masked run)."""
    pieces: list[str] = []
    for end, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(
            list(messages[:end]), tools=tools, chat_template=template, tokenize=False, add_generation_prompt=True
        )
        upto = tokenizer.apply_chat_template(
            list(messages[: end + 1]), tools=tools, chat_template=template, tokenize=False
        )
        if not upto.startswith(before):
            raise MagnetError(f"the template is not prefix-preserving at message {end}")
        piece = upto[len(before) :]
        if end and messages[end - 1]["role"] == "assistant" and pieces:
            pieces[-1] += piece
        else:
            pieces.append(piece)
    return pieces
