"""``magnet synth``'s settings: one dataclass per section, every field with its help text, and the loader that
reads a YAML file, then Python values, then ``section.key=value`` overrides, into a validated ``SynthConfig``.

Kept apart from the stages (``magnet.synthesis.synth``) so that the CLI, the API and the generated configuration
reference read the settings without importing the pipeline.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from magnet.errors import MagnetError


@dataclass
class TeacherSettings:
    """Which model answers: ``offline`` (no model), ``openai`` (any OpenAI-compatible endpoint) or ``hf``."""

    kind: str = field(
        default="offline",
        metadata={"help": "offline (rules, no model), openai (any OpenAI-compatible endpoint) or hf (local)."},
    )
    model: str | None = field(
        default=None, metadata={"help": "Model name the endpoint serves, or a local path / hub id for hf."}
    )
    base_url: str | None = field(
        default=None, metadata={"help": "Endpoint URL, e.g. http://127.0.0.1:8000/v1 (vLLM); None: OpenAI's."}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "Environment variable holding the API key (never a file)."}
    )
    max_concurrency: int = field(default=16, metadata={"help": "Requests in flight at once."})
    timeout: float = field(default=60.0, metadata={"help": "Seconds before a request is abandoned and retried."})
    max_retries: int = field(
        default=6, metadata={"help": "Retries of a failed request (429, 5xx, timeouts, malformed answers)."}
    )
    temperature: float | None = field(
        default=None, metadata={"help": "Sampling temperature (None: the endpoint's default)."}
    )
    max_tokens: int | None = field(
        default=None, metadata={"help": "Longest answer per request in tokens (None: the endpoint's default)."}
    )
    cache: str | None = field(
        default=None, metadata={"help": "Request cache (SQLite); default <out>/cache.sqlite: a rerun never pays twice."}
    )
    no_cache: bool = field(default=False, metadata={"help": "Send every request, even one answered before."})
    tool_calls: str = field(
        default="auto",
        metadata={
            "help": "How calls travel: native (the endpoint's tools), text (tools in the prompt, calls read from "
            "the text) or auto (found out once per run; recorded in the report; native for offline)."
        },
    )
    style: str = field(
        default="clean",
        metadata={
            "help": "offline only: how its answers are formatted, clean, chatty, markdown, think, json or mixed "
            "(one drawn per request); the content is the same, so every style must give the same data."
        },
    )


@dataclass
class GraphSettings:
    """The function graph (section 3.2)."""

    judge: str = field(
        default="schema",
        metadata={"help": "schema (output fields matched to parameters) or llm (the paper's teacher prompts)."},
    )
    candidates: int = field(default=30, metadata={"help": "Candidate neighbours judged per function."})
    min_class_size: int = field(
        default=5, metadata={"help": "Below this many functions in a tool class, candidates come from the category."}
    )
    min_score: float = field(default=0.5, metadata={"help": "Lowest schema-judge score that makes an edge."})


@dataclass
class PathSettings:
    """Walks and node operations (section 3.3), and the single-turn and irrelevance paths of the mixture."""

    steps: int = field(default=7, metadata={"help": "The paper's S: steps of a random walk at most."})
    walks_per_function: int = field(default=10, metadata={"help": "Random walks started from every function."})
    limit: int | None = field(default=None, metadata={"help": "Stop after this many distinct walks (None: all)."})
    p_merge: float = field(
        default=0.3, metadata={"help": "Merge: probability that two consecutive turns become one (the paper: 0.3)."}
    )
    p_insert: float = field(
        default=1.0, metadata={"help": "Insert: probability of appending a nested neighbour to a turn."}
    )
    p_insert_later: float = field(
        default=0.3, metadata={"help": "Insert: probability that the nested call gets a later turn of its own."}
    )
    p_miss_func: float = field(
        default=0.5, metadata={"help": "Split: share of split turns that hide a function (else a parameter)."}
    )
    single: int = field(default=0, metadata={"help": "Single-turn paths with one call."})
    parallel: int = field(default=0, metadata={"help": "Single-turn paths calling one function several times."})
    multiple: int = field(default=0, metadata={"help": "Single-turn paths choosing one function among several."})
    irrelevance: int = field(default=0, metadata={"help": "Paths whose request no listed function serves."})


@dataclass
class TranslateSettings:
    """Back-and-forth translation (section 3.4)."""

    max_attempts: int = field(
        default=3, metadata={"help": "Retries of a step, the problem shown to the teacher each time."}
    )
    turn_attempts: int = field(
        default=3, metadata={"help": "Times a turn is started over before the path is rejected."}
    )
    shard_size: int = field(
        default=200, metadata={"help": "Items per shard of every sharded stage (the unit of resume and --shard)."}
    )


@dataclass
class NegativeSettings:
    """Negatives (section 3.5): ``perturb`` (rules), ``student`` (the SFT model) or ``none``."""

    source: str = field(
        default="perturb",
        metadata={"help": "perturb (rule-based wrong calls), student (the SFT model, judged) or none."},
    )
    samples: int = field(default=10, metadata={"help": "Student samples per turn to find a wrong one."})
    temperature: float = field(default=0.7, metadata={"help": "Student sampling temperature."})
    student: TeacherSettings | None = field(
        default=None, metadata={"help": "The student model (kind openai or hf), as in teacher."}
    )
    student_tool_format: str | None = field(
        default=None,
        metadata={
            "help": "The format the student was trained in (bfcl_prompt or native); None: its magnet.json when "
            "student.model is a local folder, else bfcl_prompt."
        },
    )


@dataclass
class DatasetSettings:
    """The mixture (``paper``: Table 1's proportions; ``all``; or counts per kind) and the outputs."""

    sft_mixture: Any = field(
        default="paper", metadata={"help": "paper (Table 1's shares), all, or counts per kind {multi_turn: 7800, ...}."}
    )
    preference_mixture: Any = field(default="all", metadata={"help": "As sft_mixture, for the preference pairs."})
    test_size: float = field(default=0.05, metadata={"help": "Share (or count) of rows held out as the test split."})
    exports: bool = field(
        default=True, metadata={"help": "Also write ShareGPT (LLaMA-Factory) and OpenAI fine-tuning JSONL."}
    )
    push_to_hub: str | None = field(
        default=None, metadata={"help": "Hub repository to push both datasets to (needs network and a token)."}
    )


@dataclass
class SynthConfig:
    """Everything ``magnet synth`` needs; every field has a default."""

    out: str = field(default="runs/synth", metadata={"help": "Output folder (stages resume from what it holds)."})
    seed: int = field(default=0, metadata={"help": "Seed of every random choice."})
    pool: str | list[str] = field(
        default="builtin",
        metadata={
            "help": "builtin, bfcl, package.module:Class toolkits, an OpenAI tools JSON file or a folder; comma-joined."
        },
    )
    allow_bfcl: bool = field(
        default=False, metadata={"help": "Allow BFCL's classes in a training pool (contaminates BFCL scores)."}
    )
    teacher: TeacherSettings = field(default_factory=TeacherSettings, metadata={"help": "The teacher model."})
    graph: GraphSettings = field(default_factory=GraphSettings, metadata={"help": "The function graph."})
    paths: PathSettings = field(default_factory=PathSettings, metadata={"help": "Signature paths."})
    translate: TranslateSettings = field(default_factory=TranslateSettings, metadata={"help": "Translation."})
    max_steps: int = field(
        default=8, metadata={"help": "Assistant steps per turn at most when distilling a trajectory."}
    )
    negatives: NegativeSettings = field(default_factory=NegativeSettings, metadata={"help": "Negative trajectories."})
    datasets: DatasetSettings = field(default_factory=DatasetSettings, metadata={"help": "Mixture, split and exports."})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (what the run records)."""
        return dataclasses.asdict(self)


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


def _build(klass: type, data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise MagnetError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(klass)}
    hints = typing.get_type_hints(klass)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise MagnetError(f"{where}: unknown setting(s) {unknown}; known: {sorted(fields)}")
    values = {}
    for name, value in data.items():
        nested = {
            "teacher": TeacherSettings,
            "graph": GraphSettings,
            "paths": PathSettings,
            "translate": TranslateSettings,
            "negatives": NegativeSettings,
            "datasets": DatasetSettings,
            "student": TeacherSettings,
        }.get(name)
        if nested and value is not None:
            values[name] = _build(nested, value, f"{where}.{name}")
            continue
        problem = _type_problem(value, hints.get(name, Any))
        if problem:
            raise MagnetError(f"{where}.{name}: expected {problem}, got {value!r:.60}")
        values[name] = value
    return klass(**values)


SECTIONS = ("teacher", "graph", "paths", "translate", "negatives", "datasets", "student")
"""Config keys that hold a section (a settings dataclass): Python settings are merged into them key by key."""


def _merge(base: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``values`` laid over it: sections merged key by key, any other value (a mixture's counts too)
    replaced whole, as ``--set`` replaces it."""
    merged = dict(base)
    for key, value in values.items():
        if key in SECTIONS and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged


def load_config(
    path: str | Path | None = None, overrides: Sequence[str] = (), values: Mapping[str, Any] | None = None
) -> SynthConfig:
    """A ``SynthConfig`` from YAML, then ``values`` (Python settings, sections as mappings), then ``key.sub=value``
    overrides (values parsed as YAML); unknown keys and malformed overrides are errors naming them."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise MagnetError(f"{path}: cannot read the synth config ({' '.join(str(error).split())})") from None
    if not isinstance(data, Mapping):
        raise MagnetError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    data = _merge(data, values or {})
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise MagnetError(f"--set {override!r}: expected key=value, e.g. paths.single=100")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise MagnetError(f"--set {override!r}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return _build(SynthConfig, data, str(path or "config"))
