"""A StableToolBench-format tool folder of any size, for tests and the pool-scale benchmark.

StableToolBench (and ToolBench before it) keeps RapidAPI's tools as ``tools/<Category>/<tool>.json``: a tool has
``tool_name``, ``tool_description`` and an ``api_list``, and each API a ``name``, ``description``, ``method``,
``required_parameters`` / ``optional_parameters`` (``{"name", "type", "description", "default"}``, RapidAPI's
upper-case types) and a ``schema`` (the response's JSON Schema, often empty). The real folder cannot be
downloaded here, so ``write_stabletoolbench_folder`` writes one of the same shape: 49 categories (the paper's
count, StableToolBench's category names), tools of 1 to 8 APIs (RapidAPI tools have about four on average), some
APIs without a response schema, as in the data.

The content is made to chain the way RapidAPI tools do: a tool serves one kind of record (a ``hotel``, a
``match``), its search API returns records with their ``<record>_id``, its other APIs take that id; and some records
point at a record of another tool of the same category (a ``hotel`` carries a ``city_id``), so that a graph built
on the folder links tools and its paths cross them. Everything is drawn from ``seed``: the same arguments write
the same files.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CATEGORY_RECORDS: dict[str, tuple[str, ...]] = {
    "Advertising": ("campaign", "ad", "audience"),
    "Artificial_Intelligence_Machine_Learning": ("model", "dataset", "prediction"),
    "Business": ("company", "lead", "invoice"),
    "Business_Software": ("workspace", "ticket", "report"),
    "Commerce": ("product", "store", "offer"),
    "Communication": ("channel", "message", "contact"),
    "Cryptography": ("key", "signature", "certificate"),
    "Cybersecurity": ("scan", "vulnerability", "domain"),
    "Data": ("record", "dataset", "query"),
    "Database": ("table", "row", "index"),
    "Devices": ("device", "sensor", "firmware"),
    "eCommerce": ("order", "product", "cart"),
    "Education": ("course", "lesson", "student"),
    "Email": ("mailbox", "email", "template"),
    "Energy": ("meter", "plant", "tariff"),
    "Entertainment": ("show", "episode", "venue"),
    "Events": ("event", "ticket", "organizer"),
    "Finance": ("stock", "portfolio", "exchange"),
    "Financial": ("account", "transaction", "loan"),
    "Food": ("recipe", "restaurant", "ingredient"),
    "Gaming": ("game", "player", "tournament"),
    "Health_and_Fitness": ("workout", "exercise", "plan"),
    "Jobs": ("job", "company", "applicant"),
    "Location": ("place", "address", "region"),
    "Logistics": ("shipment", "parcel", "warehouse"),
    "Mapping": ("route", "tile", "landmark"),
    "Media": ("article", "author", "publisher"),
    "Medical": ("drug", "condition", "clinic"),
    "Monitoring": ("monitor", "alert", "incident"),
    "Movies": ("movie", "actor", "studio"),
    "Music": ("track", "artist", "album"),
    "News_Media": ("story", "source", "topic"),
    "Other": ("item", "collection", "tag"),
    "Payments": ("payment", "customer", "refund"),
    "Reward": ("reward", "member", "voucher"),
    "Science": ("paper", "experiment", "element"),
    "Search": ("result", "page", "site"),
    "SMS": ("sms", "number", "campaign"),
    "Social": ("post", "profile", "comment"),
    "Sports": ("match", "team", "league"),
    "Storage": ("file", "bucket", "folder"),
    "Text_Analysis": ("document", "entity", "sentiment"),
    "Tools": ("job", "conversion", "qr_code"),
    "Transportation": ("vehicle", "trip", "station"),
    "Translation": ("translation", "glossary", "language"),
    "Travel": ("hotel", "flight", "city"),
    "Video_Images": ("video", "image", "playlist"),
    "Visual_Recognition": ("photo", "label", "face"),
    "Weather": ("forecast", "city", "station"),
}
"""StableToolBench's 49 categories, each with the kinds of record its tools serve."""

_NAME_PARTS = ("hub", "api", "finder", "pro", "data", "live", "central", "tracker", "express", "base")
_ASPECTS = ("reviews", "photos", "history", "stats", "prices", "tags")
_FIELDS = (("name", "string"), ("rating", "number"), ("updated_at", "string"), ("status", "string"))


@dataclass(frozen=True)
class FolderStats:
    """What ``write_stabletoolbench_folder`` wrote."""

    categories: int
    tools: int
    functions: int
    with_response_schema: int


def _record_schema(record: str, link: str | None) -> dict[str, Any]:
    properties: dict[str, Any] = {f"{record}_id": {"type": "string"}}
    properties.update({field: {"type": kind} for field, kind in _FIELDS})
    if link:
        properties[f"{link}_id"] = {"type": "string"}
    return {"type": "object", "properties": properties}


def _parameter(name: str, kind: str, description: str, default: Any = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "description": description, "default": default}


def _apis(record: str, link: str | None, rng: random.Random, count: int) -> list[dict[str, Any]]:
    """``count`` APIs of a tool serving ``record`` (linked to another tool's ``link``): a search first (every
    tool can start a path), then the record's other operations in a seeded order."""
    ident = f"{record}_id"
    listing = {"type": "object", "properties": {"results": {"type": "array", "items": _record_schema(record, None)}}}
    search = {
        "name": f"search_{record}s",
        "description": f"Search {record}s by keyword; returns matching {record}s with their ids.",
        "required_parameters": [_parameter("query", "STRING", f"Words to look for in the {record}'s name", "")],
        "optional_parameters": [_parameter("limit", "NUMBER", "Most results to return", 10)],
        "schema": listing,
    }
    others = [
        {
            "name": f"get_{record}_details",
            "description": f"Full details of one {record}.",
            "required_parameters": [_parameter(ident, "STRING", f"The {record}'s id")],
            "optional_parameters": [],
            "schema": _record_schema(record, link),
        },
        {
            "name": f"create_{record}",
            "description": f"Create a {record}; returns its id.",
            "required_parameters": [_parameter("name", "STRING", f"Name of the new {record}")],
            "optional_parameters": [_parameter("status", "ENUM", "active or draft", "active")],
            "schema": {"type": "object", "properties": {ident: {"type": "string"}, "created": {"type": "boolean"}}},
        },
        {
            "name": f"delete_{record}",
            "description": f"Delete a {record}.",
            "required_parameters": [_parameter(ident, "STRING", f"The {record} to delete")],
            "optional_parameters": [],
            "schema": {"type": "object", "properties": {ident: {"type": "string"}, "deleted": {"type": "boolean"}}},
        },
        {
            "name": f"{record}_activity",
            "description": f"Activity of a {record} on a day.",
            "required_parameters": [
                _parameter(ident, "STRING", f"The {record}'s id"),
                _parameter("date", "DATE (YYYY-MM-DD)", "The day", "2024-01-01"),
            ],
            "optional_parameters": [_parameter("detailed", "BOOLEAN", "Include every event", False)],
            "schema": {
                "type": "object",
                "properties": {ident: {"type": "string"}, "events": {"type": "integer"}, "value": {"type": "number"}},
            },
        },
    ]
    for aspect in rng.sample(_ASPECTS, 2):
        others.append(
            {
                "name": f"list_{record}_{aspect}",
                "description": f"The {aspect} of a {record}.",
                "required_parameters": [_parameter(ident, "STRING", f"The {record}'s id")],
                "optional_parameters": [_parameter("page", "NUMBER", "Page of results", 1)],
                "schema": {
                    "type": "object",
                    "properties": {
                        ident: {"type": "string"},
                        "items": {"type": "array", "items": {"type": "object"}},
                        "total": {"type": "integer"},
                    },
                },
            }
        )
    if link:
        others.append(
            {
                "name": f"{record}s_by_{link}",
                "description": f"The {record}s of a {link}.",
                "required_parameters": [_parameter(f"{link}_id", "STRING", f"The {link}'s id")],
                "optional_parameters": [],
                "schema": listing,
            }
        )
    rng.shuffle(others)
    return [search, *others][:count]


def write_stabletoolbench_folder(
    root: str | Path,
    functions: int,
    *,
    categories: int = 49,
    schema_share: float = 0.8,
    seed: int = 0,
) -> FolderStats:
    """Write about ``functions`` APIs (exactly that many) as ``root/<Category>/<tool>.json`` over the first
    ``categories`` of StableToolBench's categories, the tools spread round-robin over them.

    ``schema_share`` of the APIs keep their response schema in ``schema``; the others have ``""`` there, as many
    RapidAPI APIs do. Raises ``ValueError`` for a size the folder cannot take.
    """
    names = list(CATEGORY_RECORDS)
    if not 1 <= categories <= len(names):
        raise ValueError(f"categories must be in 1..{len(names)}, got {categories}")
    if functions < 1:
        raise ValueError(f"functions must be at least 1, got {functions}")
    if not 0.0 <= schema_share <= 1.0:
        raise ValueError(f"schema_share must be in [0, 1], got {schema_share}")
    rng = random.Random(seed)
    root = Path(root)
    written = tools = with_schema = 0
    used: set[str] = set()
    while written < functions:
        category = names[tools % categories]
        records = CATEGORY_RECORDS[category]
        record = rng.choice(records)
        link = rng.choice([other for other in records if other != record] + [None])
        count = min(functions - written, rng.choice((1, 2, 3, 3, 4, 4, 5, 6, 8)))
        tool_name = f"{record}_{rng.choice(_NAME_PARTS)}"
        while tool_name in used:
            tool_name = f"{record}_{rng.choice(_NAME_PARTS)}_{rng.randrange(1000)}"
        used.add(tool_name)
        api_list = []
        for api in _apis(record, link, rng, count):
            keep = rng.random() < schema_share
            with_schema += keep
            api_list.append(
                {
                    **api,
                    "url": f"https://{tool_name.replace('_', '-')}.p.rapidapi.com/{api['name']}",
                    "method": "GET" if api["name"].startswith(("search", "get", "list")) else "POST",
                    "code": 200,
                    "test_endpoint": "",
                    "schema": api["schema"] if keep else "",
                }
            )
        tool = {
            "product_id": f"api_{rng.getrandbits(64):016x}",
            "tool_name": tool_name,
            "title": tool_name.replace("_", " ").title(),
            "tool_description": f"{category.replace('_', ' ')} API for {record}s: search, details and more.",
            "home_url": f"https://rapidapi.com/{tool_name}",
            "host": f"{tool_name.replace('_', '-')}.p.rapidapi.com",
            "api_list": api_list,
        }
        folder = root / category
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{tool_name}.json").write_text(json.dumps(tool, indent=1), encoding="utf-8")
        written += len(api_list)
        tools += 1
    return FolderStats(min(categories, tools), tools, written, with_schema)
