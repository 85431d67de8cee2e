"""The parser of the dependency judge's answer: the candidates that follow the target, from a JSON object keyed
by the target (or the other shapes models write), with the names that are not candidates dropped and reported.

Kept apart from the other parsers because it reads a structure of names, not a label or a verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from magnet.llm.client import Completion
from magnet.synthesis.answer_text import answer_body, loose_json, loose_values
from magnet.synthesis.parsers_common import AnswerError, answer_text

if TYPE_CHECKING:
    from magnet.synthesis.steps import DependencyInputs


@dataclass(frozen=True)
class Related:
    """The dependency judge's answer: the related candidates, and the names it gave that are not candidates
    (dropped; ``LLMJudge`` keeps them in ``dropped`` and ``build_graph`` warns with their count)."""

    names: tuple[str, ...]
    dropped: tuple[str, ...] = ()


def _json_type(value: Any) -> str:
    """JSON's name for the type of a parsed value (``null``, ``boolean``, ``number``, ``string``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _brief(value: Any, limit: int = 60) -> str:
    """A short repr of part of an answer, for an error message (a deeply nested one is not printed)."""
    try:
        text = repr(value)
    except RecursionError:
        return f"a deeply nested {type(value).__name__}"
    return text if len(text) <= limit else text[:limit] + "..."


def _related_name(item: Any) -> str | None:
    """A candidate name from one item of a dependency answer: a name, or an object with a ``name`` (``None``
    when the object says ``"related": false``); a ``ValueError`` for anything else."""
    if isinstance(item, str):
        return item.strip()
    if isinstance(item, dict):
        name = next((item[key] for key in ("name", "function", "candidate") if isinstance(item.get(key), str)), None)
        if name is not None:
            related = item.get("related", True)
            if not isinstance(related, bool):
                raise ValueError(f'"related" must be true or false, got {_brief(related)}')
            return name if related else None
    raise ValueError(f'{_brief(item)} is neither a name nor an object with a "name"')


# What models write in a list for "nothing" (["none"]): not a name to drop and count.
PLACEHOLDERS = ("", "none", "n/a", "null", "nothing", "-")


def _target_entry(value: Any, target: str) -> Any:
    """The related list for ``target`` in one decoded value: ``{target: [...]}``, or an object (or a list of
    objects) ``{"function": target, "dependencies": [...]}``; ``None`` when the value holds no answer for it."""
    if isinstance(value, dict):
        if target in value:
            return value[target]
        keys = [key for key in value if key in ("related", "dependencies", "related_functions", "related_candidates")]
        if len(value) == 1 and keys:  # {"related": [...]}: the target left implicit
            return value[keys[0]]
        if value.get("function", value.get("name", value.get("target"))) == target:
            return next(
                (value[key] for key in ("dependencies", "related", "candidates", "followers") if key in value), None
            )
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for item in value:
            entry = _target_entry(item, target)
            if entry is not None:
                return entry
    return None


def parse_dependencies(completion: Completion, inputs: DependencyInputs) -> Related:
    """``{"target": [candidates]}``, in JSON or Python literals, amid prose or in a fence.

    Also accepted: objects with a ``name`` instead of names (one with ``"related": false`` is left out), a list of
    ``{"function": ..., "dependencies": [...]}`` objects (the target's counts), and, when it is the whole answer, a
    bare list. Inside prose only an answer keyed by the target counts (a bare list there is as likely the
    candidates repeated). The target among its own followers is left out; a name that is not a candidate is
    dropped and reported in ``Related.dropped`` (a placeholder such as ``"none"`` is nothing).
    """
    target = inputs.target.name
    expected = f'answer {{"{target}": ["candidate_name", ...]}} with the related candidates\' names ([] if none)'
    text = answer_text(completion)
    body = answer_body(text)
    try:
        values, problem = [loose_json(body)], ""
    except ValueError as error:  # prose around the JSON, or no JSON at all
        values, problem = loose_values(text), str(error).replace("JSON value", "JSON object")
    # The last answer keyed by the target wins ("at first I thought {...}, but on reflection {...}").
    related = next((e for e in (_target_entry(v, target) for v in reversed(values)) if e is not None), None)
    if related is None:
        whole = values[0] if not problem else None  # a bare list counts only as the whole answer
        if isinstance(whole, list) and not any(isinstance(item, dict) and "dependencies" in item for item in whole):
            related = whole
        elif isinstance(whole, dict):
            raise AnswerError(f"the object has no key {target!r} (keys: {list(whole)[:5]}); {expected}")
        elif not problem:
            raise AnswerError(f"got a JSON {_json_type(whole)}, not an object; {expected}")
        else:
            raise AnswerError(f"{problem}; {expected}")
    if isinstance(related, dict):  # {"g": true, "h": "takes the id", "k": "no"}: the keys, unless said no
        related = [name for name, why in related.items() if not _says_no(why)]
    if not isinstance(related, list):
        raise AnswerError(f"the value of {target!r} is a JSON {_json_type(related)}, not a list; {expected}")
    names, bad = [], []
    for item in related:
        try:
            name = _related_name(item)
        except ValueError as error:
            bad.append(str(error))
            continue
        if name is not None:
            names.append(name)
    if bad:
        raise AnswerError(f"{'; '.join(bad[:3])}; {expected}")
    names = [name for name in names if name.strip().lower() not in PLACEHOLDERS]
    candidates = {spec.name for spec in inputs.candidates if spec.name != target}
    resolved = [(name, _candidate_name(name, candidates | {target})) for name in names]
    kept = tuple(dict.fromkeys(found for _, found in resolved if found in candidates))
    dropped = tuple(dict.fromkeys(name[:60] for name, found in resolved if found is None))
    if dropped and not kept:  # every name wrong: the answer is no judgement, not "nothing related"
        raise AnswerError(f"{list(dropped)[:10]} are not among the candidates; {expected}")
    return Related(kept, dropped)


def _says_no(value: Any) -> bool:
    """Whether a value beside a candidate's name says it is not related (``false``, ``"no"``, ``"not related"``)."""
    if value is None or value is False:
        return True
    return isinstance(value, str) and re.match(r"\s*(?:no|not|false|unrelated|none)\b", value, re.I) is not None


def _candidate_name(name: str, known: set[str]) -> str | None:
    """The function a name given by the judge means: as written, or without backticks, ``()``, a namespace, a
    remark in parentheses, or another case; ``None`` when it is none of ``known``."""
    cleaned = re.sub(r"\s*\(.*\)\s*$", "", name.strip().strip("`'\"*")).strip().rsplit(".", 1)[-1]
    for candidate in (name, cleaned):
        if candidate in known:
            return candidate
    lowered = {item.lower(): item for item in known}
    return lowered.get(cleaned.lower())
