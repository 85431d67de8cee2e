"""Training templates: the same tokens as the stock Qwen2.5 template, masks on exactly the assistant turns in both
tool formats, prefix-preserving; and a broken template is caught."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from magnet.errors import MagnetError
from magnet.train.templates import template_problems, training_template

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rows(sft_rows):
    return sft_rows


@pytest.mark.parametrize("tool_format", ["native", "bfcl_prompt"])
def test_training_template_matches_the_stock_one(tokenizer, rows, tool_format):
    from trl.chat_template_utils import qwen2_5_training_chat_template

    assert training_template(tokenizer) == qwen2_5_training_chat_template
    assert template_problems(tokenizer, rows, tool_format) == []


def test_a_template_that_masks_too_little_is_caught(tokenizer, rows):
    template = training_template(tokenizer)
    broken = template.replace("{%- generation %}", "", 1).replace("{%- endgeneration %}", "", 1)
    assert broken != template
    problems = template_problems(tokenizer, rows[:5], "native", template=broken)
    assert problems and all("not exactly the assistant turns" in p or "other tokens" in p for p in problems)


def test_a_template_without_markers_or_variant_is_refused(tokenizer):
    copy = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    copy.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    with pytest.raises(MagnetError, match="TRL has no training variant"):
        training_template(copy)
