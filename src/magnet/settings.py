"""One way to configure Magnet: dataclasses whose fields carry help text, read from a YAML file, then Python values,
then command-line flags generated from the fields.

This is the mechanism ``trl.TrlParser`` / ``transformers.HfArgumentParser`` give the training recipes, extended to
what they lack: nested sections (``teacher``, ``paths``...), whose flags are dotted (``--teacher.model``,
``--paths.single 100``), and ``--set key.sub=value`` overrides (values read as YAML). As with ``HfArgumentParser``
each field gets ``--name`` and ``--name-with-dashes``, a boolean that defaults to true also gets ``--no-name``,
``metadata={"aliases": [...]}`` adds names, and a ``Literal`` annotation becomes the flag's choices. A setting is
declared once, as a field; its flag, its YAML key, its check and its line in the configuration reference all come
from that field.

Every value, from any source, is checked against the field's annotation, and an error names the file and the key.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from magnet.errors import MagnetError

Settings = TypeVar("Settings")

_FLAG_PREFIX = "setting:"
"""Argparse destinations of generated flags start with this, so the values they hold are found among the others."""


def _options(annotation: Any) -> tuple[Any, ...]:
    """The types an annotation allows (the options of a union, else itself)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def section_type(annotation: Any) -> type | None:
    """The settings dataclass a field holds (``Section`` or ``Section | None``), or None for a plain value."""
    return next((option for option in _options(annotation) if dataclasses.is_dataclass(option)), None)


def _type_problem(value: Any, annotation: Any) -> str | None:
    """Why ``value`` does not fit a setting's annotation (plain types, optionals, lists, literals), or None."""
    if annotation is Any:
        return None
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        problems = [_type_problem(value, option) for option in arguments]
        return None if any(problem is None for problem in problems) else " or ".join(p for p in problems if p)
    if origin is typing.Literal:
        return None if value in arguments else f"one of {list(arguments)}"
    if origin in (list, tuple, Sequence):
        if not isinstance(value, list | tuple):
            return "a list"
        return next((p for item in value if (p := _type_problem(item, arguments[0] if arguments else Any))), None)
    if origin in (dict, Mapping):
        return None if isinstance(value, Mapping) else "a mapping"
    if annotation is type(None):
        return None if value is None else "null"
    if annotation is bool:
        return None if isinstance(value, bool) else "true or false"
    if annotation is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if annotation is float:
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "a number"
    if annotation is str:
        return None if isinstance(value, str) else "a string"
    return None


def _at(where: str, name: str) -> str:
    """The name of a key inside ``where``: ``file.yaml.paths``, ``--paths`` (a flag), ``--set paths``."""
    return f"{where}{name}" if where in ("--", "--set ") else f"{where}.{name}"


def _closest(word: Any, options: Sequence[Any]) -> str:
    """`` (did you mean 'x'?)`` for the option closest to a misspelt ``word``, or nothing."""
    close = difflib.get_close_matches(word, [str(option) for option in options], n=1) if isinstance(word, str) else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def settings_from_mapping(klass: type[Settings], data: Mapping[str, Any], where: str) -> Settings:
    """``klass`` built from ``data``, sections (fields holding a settings dataclass) built from their mappings;
    an unknown key or a value of the wrong type is an error naming ``where`` and the key (and the closest known
    name or choice, for a typo)."""
    if not isinstance(data, Mapping):
        raise MagnetError(f"{where.strip()}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(klass)}
    hints = typing.get_type_hints(klass)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        hint = _closest(unknown[0], list(fields))
        raise MagnetError(f"{where.strip()}: unknown setting(s) {unknown}{hint}; known: {sorted(fields)}")
    values = {}
    for name, value in data.items():
        annotation = hints.get(name, Any)
        section = section_type(annotation)
        if section is not None and value is None and type(None) not in _options(annotation):
            value = {}  # ``paths:`` with every key commented out: the section's defaults
        if section is not None and value is not None:
            values[name] = settings_from_mapping(section, value, _at(where, name))
            continue
        problem = _type_problem(value, hints.get(name, Any))
        if problem:
            hint = _closest(value, _choices(hints.get(name, Any)) or [])
            raise MagnetError(f"{_at(where, name)}: expected {problem}, got {value!r:.60}{hint}")
        values[name] = value
    try:
        return klass(**values)
    except (MagnetError, ValueError) as error:  # a __post_init__ check across fields
        raise MagnetError(f"{where.strip()}: {error}") from None


def merge_settings(klass: type, base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``values`` laid over it: sections of ``klass`` merged key by key, any other value (a mixture's
    counts too) replaced whole, as ``--set`` replaces it."""
    hints = typing.get_type_hints(klass) if dataclasses.is_dataclass(klass) else {}
    merged = dict(base)
    for key, value in values.items():
        section = section_type(hints.get(key, Any))
        if section is not None and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_settings(section, merged[key], value)
        else:
            merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged


def with_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``data`` with ``key.sub=value`` overrides applied in order (values read as YAML: ``100``, ``true``,
    ``null``, ``{multi_turn: 10}``)."""
    result = merge_settings(object, {}, data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise MagnetError(f"--set {override!r}: expected key=value, e.g. paths.single=100")
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise MagnetError(f"--set {override!r}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return result


def read_settings_file(path: str | Path, what: str = "config") -> dict[str, Any]:
    """The mapping a YAML settings file holds ({} for an empty file)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise MagnetError(f"{path}: cannot read the {what} ({' '.join(str(error).split())})") from None
    if not isinstance(data, Mapping):
        raise MagnetError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return dict(data)


def load_settings(
    klass: type[Settings],
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
    *,
    what: str = "config",
    values_where: str = "settings",
) -> Settings:
    """``klass`` from a YAML file, then ``values`` (Python settings, or flags with ``values_where="--"``; sections
    as mappings), then ``key.sub=value`` overrides. Each source is checked on its own first, so that an
    unknown key or a bad value is blamed on the file, the flag or the ``--set`` that holds it."""
    data = read_settings_file(path, what) if path is not None else {}
    given = with_overrides({}, overrides)
    for part, where in ((data, str(path)), (values or {}, values_where), (given, "--set ")):
        if part:
            settings_from_mapping(klass, part, where)
    data = merge_settings(klass, merge_settings(klass, data, values or {}), given)
    return settings_from_mapping(klass, data, str(path or "config"))


# ---------------------------------------------------------------------------------------------------------------
# Flags generated from the fields
# ---------------------------------------------------------------------------------------------------------------


def _flag_value(annotation: Any, flag: str):
    """Argparse ``type`` for a field: text for a string setting, YAML for any other (``100``, ``0.5``, ``null``,
    ``[a, b]``, ``{multi_turn: 10}``); the value is checked against the annotation when the settings are built."""
    options = [option for option in _options(annotation) if option is not type(None)]
    if options and all(option is str for option in options):
        return lambda raw: None if raw in ("null", "None") and type(None) in _options(annotation) else raw

    def parse(raw: str) -> Any:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            raise argparse.ArgumentTypeError(f"{flag}: not a readable value: {raw!r}") from None

    return parse


def _choices(annotation: Any) -> list[Any] | None:
    literal = next((o for o in _options(annotation) if typing.get_origin(o) is typing.Literal), None)
    return list(typing.get_args(literal)) if literal is not None else None


def add_settings_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    klass: type,
    prefix: str = "",
    *,
    flag_prefix: str | None = None,
    aliases: bool = False,
    only: Sequence[str] | None = None,
    skip: Sequence[str] = (),
) -> None:
    """A flag per field of ``klass`` (``--prefix.name`` and ``--prefix.name-with-dashes``), sections expanded into
    dotted flags; help, default and choices from the field.

    ``flag_prefix`` names the flags differently from where their values go (``prefix="graph.", flag_prefix=""``:
    ``--judge`` sets ``graph.judge``, for a command about that one section). With ``aliases`` the fields'
    ``metadata["aliases"]`` are added too (short names; where two sections declare one, the first keeps it).
    ``only``/``skip`` choose fields (a command that takes a value another way, or needs a few)."""
    flag_prefix = prefix if flag_prefix is None else flag_prefix
    hints = typing.get_type_hints(klass)
    for field in dataclasses.fields(klass):
        if field.name in skip or (only is not None and field.name not in only):
            continue
        key, flag = f"{prefix}{field.name}", f"{flag_prefix}{field.name}"
        annotation = hints.get(field.name, Any)
        section = section_type(annotation)
        if section is not None:
            add_settings_flags(parser, section, f"{key}.", flag_prefix=f"{flag}.", aliases=aliases)
            continue
        names = [f"--{flag}"] + ([f"--{flag.replace('_', '-')}"] if "_" in flag else [])
        if aliases:  # the first section to claim a short name keeps it (the teacher's --model, not the student's)
            taken = parser._option_string_actions
            names += [name for name in field.metadata.get("aliases", ()) if name not in names and name not in taken]
        default = field_default(field)
        choices = _choices(annotation)
        help_text = field.metadata.get("help", "")
        shown = f" (default: {default})" if default not in (None, "", [], {}) else ""
        # argparse formats help with %: a literal one ('60% of the paths') must be doubled
        escaped = (help_text + shown).replace("%", "%%")
        common = {"dest": _FLAG_PREFIX + key, "default": argparse.SUPPRESS, "help": escaped}
        if annotation is bool:
            parser.add_argument(*names, nargs="?", const=True, type=_boolean(names[0]), metavar="BOOL", **common)
            if default is True:
                section_flag, _, name = flag.rpartition(".")
                negated = f"--{section_flag + '.' if section_flag else ''}no-{name.replace('_', '-')}"
                parser.add_argument(negated, action="store_false", **{**common, "help": f"Set {key} to false."})
            continue
        metavar = "{" + ",".join(map(str, choices)) + "}" if choices else flag.rsplit(".", 1)[-1].upper()
        parser.add_argument(*names, type=_flag_value(annotation, names[0]), metavar=metavar, **common)


_TRUE = ("true", "yes", "y", "t", "on", "1")
_FALSE = ("false", "no", "n", "f", "off", "0")


def _boolean(flag: str):
    """Argparse ``type`` for a boolean flag's value: the words ``HfArgumentParser``'s ``string_to_bool`` reads."""

    def parse(raw: str) -> bool:
        word = raw.strip().lower()
        if word not in _TRUE + _FALSE:
            raise argparse.ArgumentTypeError(f"{flag}: expected true or false, got {raw!r}")
        return word in _TRUE

    return parse


def field_default(field: dataclasses.Field) -> Any:
    """A field's default value (its factory called), or None for a field without one."""
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def flag_values(args: argparse.Namespace, prefix: str = "") -> dict[str, Any]:
    """The settings given as generated flags, as a nested mapping (only flags that were given; a ``prefix`` such as
    ``teacher.`` keeps that section's flags, without the prefix)."""
    values: dict[str, Any] = {}
    for dest, value in vars(args).items():
        if not dest.startswith(_FLAG_PREFIX + prefix):
            continue
        node = values
        *sections, name = dest[len(_FLAG_PREFIX + prefix) :].split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = value
    return values


def settings_from_args(klass: type[Settings], args: argparse.Namespace, prefix: str = "") -> Settings:
    """``klass`` from the generated flags under ``prefix`` (defaults for the others)."""
    return settings_from_mapping(klass, flag_values(args, prefix), f"--{prefix.rstrip('.')}" if prefix else "flags")
