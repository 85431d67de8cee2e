"""The parser of the labelling step: a category from the list (or ``misc``) and a short tool class, written as
labelled lines, a Markdown table or a JSON object.

Kept apart from the other parsers because it alone knows the category list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from magnet.llm.client import Completion
from magnet.synthesis.answer_text import answer_body, labelled, loose_values
from magnet.synthesis.parsers_common import AnswerError, answer_text

if TYPE_CHECKING:
    from magnet.synthesis.steps import LabelInputs

# StableToolBench's (RapidAPI's) categories, which the paper cleaned to 49; "misc" is also allowed.
CATEGORIES = (
    "Advertising",
    "Artificial_Intelligence_Machine_Learning",
    "Business",
    "Business_Software",
    "Commerce",
    "Communication",
    "Cryptography",
    "Cybersecurity",
    "Data",
    "Database",
    "Devices",
    "eCommerce",
    "Education",
    "Email",
    "Energy",
    "Entertainment",
    "Events",
    "Finance",
    "Financial",
    "Food",
    "Gaming",
    "Health_and_Fitness",
    "Jobs",
    "Location",
    "Logistics",
    "Mapping",
    "Media",
    "Medical",
    "Monitoring",
    "Movies",
    "Music",
    "News_Media",
    "Other",
    "Payments",
    "Reward",
    "Science",
    "Search",
    "SMS",
    "Social",
    "Sports",
    "Storage",
    "Text_Analysis",
    "Tools",
    "Transportation",
    "Translation",
    "Travel",
    "Video_Images",
    "Visual_Recognition",
    "Weather",
)
# A tool class longer than this is a sentence, not a class name.
MAX_TOOL_CLASS = 100


@dataclass(frozen=True)
class Label:
    """A category (one of ``CATEGORIES`` or ``misc``) and a free-text tool class."""

    category: str
    tool_class: str


def _category_key(text: str) -> str:
    """A category name reduced to letters and digits (``Health & Fitness``, ``health_and_fitness`` alike)."""
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("&", "and"))


KNOWN_CATEGORIES = {_category_key(name): name for name in (*CATEGORIES, "misc")}


def _table_cell(name: str, text: str) -> str | None:
    """The value beside ``name`` in a Markdown table row (``| Category | Weather |``)."""
    pattern = r"^\|[ \t*_`]*" + r"[ _-]?".join(name.split()) + r"[ \t*_`]*\|[ \t]*(.+?)[ \t]*\|"
    match = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
    return match.group(1).strip(" *_`") if match else None


def parse_label(completion: Completion, inputs: LabelInputs) -> Label:
    """``Category: X`` / ``Tool class: Y`` (or a JSON object with those keys); X must be a known category or
    ``misc`` (any case, spaces for underscores, a parenthesised remark after it), Y a short class name."""
    text = answer_body(answer_text(completion))
    category = labelled(("category",), text) or _table_cell("category", text)
    tool_class = labelled(("tool class",), text) or _table_cell("tool class", text) or labelled(("class",), text)
    if category is None or tool_class is None:
        found = [value for value in loose_values(text) if isinstance(value, dict)]
        if found:
            keys = {re.sub(r"[^a-z]", "", str(key).lower()): value for key, value in found[0].items()}
            category = category or str(keys.get("category") or "") or None
            tool_class = tool_class or str(keys.get("toolclass") or keys.get("class") or "") or None
    if not category or not tool_class:
        raise AnswerError("answer with two lines, 'Category: <category>' and 'Tool class: <tool class>'")
    # "Weather (forecasts)", "Finance — it moves money", "Location, Tool class: ...": the name comes first.
    name = re.split(r"\s+[—–-]\s+|[,;|]\s*|\s*\(", category, maxsplit=1)[0].strip(" *_`\"'“”.")
    if _category_key(name) not in KNOWN_CATEGORIES:
        raise AnswerError(f"{name[:60]!r} is not in the category list (or misc)")
    tool_class = re.split(r"\s*[;|,]\s*(?=[\w ]{1,20}:)", tool_class)[0].strip(" *_`\"'“”.")  # "X; Class: y"
    if len(tool_class) > MAX_TOOL_CLASS:
        raise AnswerError(f"the tool class is {len(tool_class)} characters; give a short name (a few words)")
    return Label(KNOWN_CATEGORIES[_category_key(name)], tool_class)
