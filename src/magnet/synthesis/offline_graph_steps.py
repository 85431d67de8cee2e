"""The offline backend's answers to the steps that build the function graph: a function's label (category and
tool class) from the words of its name and description, and the dependency and nested judgements from the
schema (output fields matched to parameters by name and type).

Kept apart from the teacher, which only dispatches to it, and from the translation and rollout answerers, with
which it shares nothing.
"""

from __future__ import annotations

import re

from magnet.synthesis.steps import CATEGORIES, DependencyInputs, LabelInputs, NestedInputs
from magnet.tools.pool import chaining_pairs

# Words that name a category beyond the category's own words (a function's name and description use them).
CATEGORY_WORDS = {
    "Weather": ("weather", "forecast", "temperature", "air", "sunrise", "sunset", "rain"),
    "Mapping": ("coordinates", "distance", "map", "nearest", "route"),
    "Location": ("place", "places", "city", "nearby", "location", "address"),
    "Events": ("event", "events", "calendar", "reminder", "attendee", "slot", "meeting"),
    "Email": ("email", "inbox", "reply", "mail"),
    "Communication": ("contact", "contacts", "phone", "message", "sms", "call"),
    "eCommerce": ("product", "products", "order", "orders", "shipment", "shipping", "inventory", "discount", "cart"),
    "Finance": (
        "account",
        "accounts",
        "balance",
        "transaction",
        "transactions",
        "transfer",
        "bill",
        "budget",
        "card",
        "currency",
        "payment",
        "bank",
    ),
    "Food": (
        "restaurant",
        "restaurants",
        "menu",
        "table",
        "reservation",
        "recipe",
        "recipes",
        "nutrition",
        "shopping",
        "ingredient",
        "ingredients",
        "dining",
        "review",
        "reviews",
    ),
    "Tools": ("task", "tasks", "note", "notes", "priority", "due"),
    "Music": ("track", "tracks", "playlist", "artist", "album", "albums", "song", "songs", "music"),
    "Devices": ("device", "devices", "thermostat", "brightness", "door", "lock", "scene", "energy", "home"),
    "Translation": ("translate", "translation", "language", "languages"),
    "Jobs": ("employee", "employees", "department", "manager", "org", "position", "positions", "hr", "title"),
}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower().replace("_", " "))


def answer_label(inputs: LabelInputs) -> tuple[str, str]:
    """``(category, tool class)`` from the words of the function's name and description: the category whose
    words (its own name's, or ``CATEGORY_WORDS``) occur most, ``misc`` when none does."""
    spec = inputs.function
    words = _words(f"{spec.name} {spec.description}")
    scores = {}
    for category in CATEGORIES:
        own = [w for w in _words(category) if len(w) > 3 and w not in ("other", "data", "media", "software")]
        vocabulary = set(own) | set(CATEGORY_WORDS.get(category, ()))
        scores[category] = sum(words.count(word) for word in vocabulary)
    best = max(CATEGORIES, key=lambda name: scores[name])
    if scores[best] == 0:
        return "misc", f"{(_words(spec.name) or ['misc'])[-1].capitalize()} tool"
    return best, f"{best.replace('_', ' ')} tool"


def answer_dependencies(inputs: DependencyInputs) -> list[str]:
    """The schema judge: candidates one of whose parameters takes a field of the target's output."""
    return [
        candidate.name
        for candidate in inputs.candidates
        if candidate.name != inputs.target.name
        and any(pair.source == inputs.target.name for pair in chaining_pairs([inputs.target, candidate]))
    ]


def answer_nested(inputs: NestedInputs) -> tuple[bool, str]:
    """Nested when a required parameter of the second takes an identifier from the first's output."""
    for pair in chaining_pairs([inputs.first, inputs.second]):
        if pair.source == inputs.first.name and pair.through_identifier and pair.parameter in inputs.second.required:
            return (
                True,
                f"{pair.parameter} of {inputs.second.name} comes from {pair.field} in {inputs.first.name}'s output",
            )
    return False, f"no required parameter of {inputs.second.name} is an identifier from {inputs.first.name}'s output"
