"""Rows to token ids and assistant masks, in either tool format, for both trainers.

SFT and mDPO train on the same thing: the assistant's tokens, every turn of them, and nothing else. Both render a
row with ``magnet.data.render`` (the format the evaluation uses too) and the training chat template
(``magnet.train.templates``), and take the assistant mask from the template's ``{% generation %}`` markers, so
the trained tokens are exactly what the model emits at inference. The results are the columns TRL's trainers
read: ``input_ids`` / ``assistant_masks`` for ``SFTTrainer``; ``prompt_ids`` / ``chosen_ids`` / ``rejected_ids``
for ``DPOTrainer``, plus what the mDPO losses weight turns with: per-token user-turn numbers (``prompt_turns``,
``chosen_turns``, ``rejected_turns``: on an assistant token, the index of the user turn of its message in the whole
conversation, by ``magnet.data.turns.message_turns``; -1 off the assistant) and ``segment_start``, the pair's
branch turn (``meta["branch_turn"]``, or the same computed from the messages for rows made before it was recorded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import datasets

from magnet.data.render import render
from magnet.data.turns import message_turns, pair_branch_turn
from magnet.errors import DatasetError

SFT_COLUMNS = ("input_ids", "assistant_masks")
PREFERENCE_COLUMNS = (
    "prompt_ids",
    "chosen_ids",
    "rejected_ids",
    "prompt_turns",
    "chosen_turns",
    "rejected_turns",
    "segment_start",
)


def _where(row: Mapping[str, Any], index: int | None) -> str:
    return f"row {index} (id {row.get('id')!r})" if index is not None else f"row id {row.get('id')!r}"


def encode(
    tokenizer: Any,
    messages: Sequence[Mapping[str, Any]],
    tools: Any,
    template: str,
    *,
    add_generation_prompt: bool = False,
) -> tuple[list[int], list[int]]:
    """``(input_ids, assistant_mask)`` of a rendered conversation under ``template``."""
    out = tokenizer.apply_chat_template(
        list(messages),
        tools=tools,
        chat_template=template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        add_generation_prompt=add_generation_prompt,
    )
    return list(out["input_ids"]), [int(bool(flag)) for flag in out["assistant_masks"]]


def token_turns(
    tokenizer: Any,
    messages: Sequence[Mapping[str, Any]],
    tools: Any,
    template: str,
    input_ids: Sequence[int],
    mask: Sequence[int],
    where: str,
) -> list[int]:
    """Per token of ``input_ids`` (the rendering of ``messages``), the user turn of its assistant message, or -1.

    The conversation is rendered up to just before each user message: with a prefix-preserving template, the tokens
    from there to the next such boundary are that user turn's, so a masked token among them is an assistant token
    of that turn. Consecutive assistant messages (one masked run) and tool outputs need no special case.

    Raises ``DatasetError`` naming ``where`` if a prefix renders to other tokens, or an assistant token comes
    before the first user message.
    """
    turns = message_turns(messages)
    starts = [i for i, turn in enumerate(turns) if turn >= 0 and (i == 0 or turns[i - 1] != turn)]
    first_assistant = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), len(messages))
    bounds: list[int] = []  # per user turn, its first token
    for index in starts:
        if index < first_assistant:  # no assistant token before it: its boundary cannot separate any
            bounds.append(0)
            continue
        prefix, _ = encode(tokenizer, messages[:index], tools, template)
        if list(input_ids[: len(prefix)]) != prefix:
            raise DatasetError(
                f"{where}: the first {index} messages render to tokens that are not a prefix of the conversation; "
                "the chat template is not prefix-preserving on this row"
            )
        bounds.append(len(prefix))
    numbers, turn = [], -1
    for position, flag in enumerate(mask):
        while turn + 1 < len(bounds) and bounds[turn + 1] <= position:
            turn += 1
        if flag and turn < 0:
            raise DatasetError(f"{where}: an assistant message comes before the first user message")
        numbers.append(turn if flag else -1)
    return numbers


def sft_example(
    row: Mapping[str, Any], tokenizer: Any, template: str, tool_format: str, index: int | None = None
) -> dict[str, list[int]]:
    """An SFT row as ``input_ids`` and ``assistant_masks``; a row with no assistant token is an error."""
    messages, tools = render(row, tool_format)
    input_ids, mask = encode(tokenizer, messages, tools, template)
    if not any(mask):
        raise DatasetError(f"{_where(row, index)}.messages: no assistant turn to train on")
    return {"input_ids": input_ids, "assistant_masks": mask}


def _conversation_turns(
    row: Mapping[str, Any],
    side: str,
    prompt_ids: list[int],
    tokenizer: Any,
    template: str,
    tool_format: str,
    where: str,
) -> tuple[list[int], list[int]]:
    """``(input_ids, turns)`` of ``prompt + side``, checked to start with ``prompt_ids``."""
    conversation = {**row, "messages": list(row["prompt"]) + list(row[side])}
    messages, tools = render(conversation, tool_format)
    input_ids, mask = encode(tokenizer, messages, tools, template)
    if input_ids[: len(prompt_ids)] != prompt_ids:
        raise DatasetError(
            f"{where}.{side}: the prompt renders to tokens that are not a prefix of prompt + {side}; "
            "the chat template is not prefix-preserving on this row"
        )
    turns = token_turns(tokenizer, messages, tools, template, input_ids, mask, f"{where}.{side}")
    if max(turns[len(prompt_ids) :], default=-1) < 0:
        raise DatasetError(f"{where}.{side}: no assistant turn to train on")
    return input_ids, turns


def preference_example(
    row: Mapping[str, Any], tokenizer: Any, template: str, tool_format: str, index: int | None = None
) -> dict[str, Any]:
    """A preference row as TRL's ``prompt_ids``/``chosen_ids``/``rejected_ids`` plus per-token user-turn numbers
    and the branch turn (see the module docstring).

    The prompt is rendered with the generation prompt (``<|im_start|>assistant\\n``), as the model sees it before
    answering; each continuation is what follows it in the rendering of the whole conversation."""
    where = _where(row, index)
    if not row.get("prompt"):
        raise DatasetError(f"{where}.prompt: empty; a pair needs at least the first user turn")
    prompt_messages, tools = render({**row, "messages": list(row["prompt"])}, tool_format)
    prompt_ids, _ = encode(tokenizer, prompt_messages, tools, template, add_generation_prompt=True)
    chosen_ids, chosen_turns = _conversation_turns(row, "chosen", prompt_ids, tokenizer, template, tool_format, where)
    rejected_ids, rejected_turns = _conversation_turns(
        row, "rejected", prompt_ids, tokenizer, template, tool_format, where
    )
    try:
        segment_start = pair_branch_turn(row)
    except DatasetError as error:
        raise DatasetError([f"{where}: {problem}" for problem in error.problems]) from None
    cut = len(prompt_ids)
    return {
        "prompt_ids": prompt_ids,
        "chosen_ids": chosen_ids[cut:],
        "rejected_ids": rejected_ids[cut:],
        "prompt_turns": chosen_turns[:cut],
        "chosen_turns": chosen_turns[cut:],
        "rejected_turns": rejected_turns[cut:],
        "segment_start": segment_start,
    }


def _tokenize(
    dataset: datasets.Dataset, function: Any, columns: Sequence[str], kwargs: dict[str, Any], num_proc: int | None
) -> datasets.Dataset:
    # Only the token columns survive: the conversation columns hold Json features that other steps never need.
    return dataset.map(
        function,
        with_indices=True,
        fn_kwargs=kwargs,
        remove_columns=[c for c in dataset.column_names if c not in ("id",)],
        num_proc=num_proc,
        desc="Tokenizing",
    ).select_columns(["id", *columns] if "id" in dataset.column_names else list(columns))


def _sft_map(row, index, tokenizer, template, tool_format):
    return sft_example(row, tokenizer, template, tool_format, index)


def _preference_map(row, index, tokenizer, template, tool_format):
    return preference_example(row, tokenizer, template, tool_format, index)


def tokenize_sft(
    dataset: datasets.Dataset, tokenizer: Any, template: str, tool_format: str, num_proc: int | None = None
) -> datasets.Dataset:
    """An SFT dataset (Magnet's schema) as ``id``, ``input_ids`` and ``assistant_masks``."""
    kwargs = {"tokenizer": tokenizer, "template": template, "tool_format": tool_format}
    return _tokenize(dataset, _sft_map, SFT_COLUMNS, kwargs, num_proc)


def tokenize_preferences(
    dataset: datasets.Dataset, tokenizer: Any, template: str, tool_format: str, num_proc: int | None = None
) -> datasets.Dataset:
    """A preference dataset (Magnet's schema, or any TRL conversational one) as the ``PREFERENCE_COLUMNS``."""
    kwargs = {"tokenizer": tokenizer, "template": template, "tool_format": tool_format}
    return _tokenize(dataset, _preference_map, PREFERENCE_COLUMNS, kwargs, num_proc)
