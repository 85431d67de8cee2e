"""The steps of ``magnet synth`` that the stage-by-stage commands (``magnet graph build``, ``paths sample``,
``translate``) also run: built from the same settings, so that a stage run alone and the same stage inside
``magnet synth`` give the same output."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from magnet.data.mixture import PAPER_SFT_COUNTS
from magnet.errors import MagnetError
from magnet.llm.client import Teacher
from magnet.llm.factory import make_teacher
from magnet.llm.settings import TeacherSettings
from magnet.synthesis.config import GraphSettings, NegativeSettings, PathSettings, TranslateSettings
from magnet.synthesis.episode import Episode
from magnet.synthesis.graph import FunctionGraph, GraphConfig, LLMJudge, SchemaJudge
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.operations import OperationConfig, reshape
from magnet.synthesis.paths import SignaturePath, sample_paths, sample_single_turn
from magnet.synthesis.pipeline import Outcome, StageReport, run_stage
from magnet.synthesis.simulate import Simulator
from magnet.synthesis.student import FormattedStudent, student_tool_format
from magnet.synthesis.translate import TranslateConfig, Translator

Config = TypeVar("Config")


def extended(config: type[Config], settings: Any, **extra: Any) -> Config:
    """A library configuration that extends a settings section (``GraphConfig`` extends ``GraphSettings``...):
    the settings' values for the fields it has, and ``extra`` for the rest."""
    names = {field.name for field in dataclasses.fields(config)}
    return config(**{k: v for k, v in dataclasses.asdict(settings).items() if k in names}, **extra)


def graph_judge(settings: GraphSettings, teacher: Teacher) -> SchemaJudge | LLMJudge:
    """The judge ``graph.judge`` names: the offline schema matcher or the paper's teacher prompts."""
    return SchemaJudge(settings.min_score) if settings.judge == "schema" else LLMJudge(teacher)


def graph_config(settings: GraphSettings, seed: int, max_concurrency: int = 16) -> GraphConfig:
    """``build_graph``'s configuration from the graph settings."""
    return extended(GraphConfig, settings, seed=seed, max_concurrency=max_concurrency)


@dataclass(frozen=True)
class PathSample:
    """The paths stage's output: the walks, each walk reshaped (Merge then Insert) and its Split copy, and the
    single-turn and irrelevance paths."""

    walks: list[SignaturePath]
    plain: list[SignaturePath]
    split: list[SignaturePath]
    single_turn: list[SignaturePath]

    def paths(self) -> list[SignaturePath]:
        """Every path to translate: each walk's plain and split variants in turn (no split ones when Split is
        off), then the single-turn ones."""
        pairs = itertools.zip_longest(self.plain, self.split)
        return [variant for pair in pairs for variant in pair if variant is not None] + self.single_turn

    def rows(self) -> list[dict[str, Any]]:
        """``paths()`` as JSONL rows, each tagged with its variant (a split row names the plain path it copies)."""
        rows: list[dict[str, Any]] = []
        for plain, split in itertools.zip_longest(self.plain, self.split):
            rows.append({**plain.to_dict(), "variant": "plain"})
            if split is not None:
                rows.append({**split.to_dict(), "variant": "split", "plain": plain.id})
        return rows + [{**path.to_dict(), "variant": path.ops[0]} for path in self.single_turn]


def sample_signature_paths(
    graph: FunctionGraph, settings: PathSettings, seed: int, *, min_functions: int = 2, progress: bool = False
) -> PathSample:
    """Random walks (section 3.3) reshaped by the node operations, plus the single-turn and irrelevance paths of
    the mixture, all from ``seed``."""
    from tqdm.auto import tqdm

    walks = sample_paths(
        graph,
        steps=settings.steps,
        walks_per_function=settings.walks_per_function,
        seed=seed,
        min_functions=min_functions,
        limit=settings.limit,
    )
    operations = extended(OperationConfig, settings)
    rng = random.Random(seed)
    plain, split = [], []
    for walk in tqdm(walks, desc="operations", unit="path", disable=not progress):
        enhanced, with_split = reshape(walk, graph, rng, operations)
        plain.append(enhanced)
        if settings.split:
            split.append(with_split)
    counts = single_turn_counts(
        settings, multi_turn_paths=len(plain) + len(split), functions=graph.graph.number_of_nodes()
    )
    single_turn = sample_single_turn(graph, **counts, seed=seed)
    return PathSample(walks, plain, split, single_turn)


SINGLE_TURN_SPLIT = {"single": 0.6, "parallel": 0.2, "multiple": 0.2}
"""How single-turn paths left to Magnet divide among the variants (the paper does not say; BFCL weighs simple
most)."""


def single_turn_counts(settings: PathSettings, *, multi_turn_paths: int, functions: int) -> dict[str, int]:
    """The single-turn and irrelevance path counts: those set, and for those left None enough for the paper's
    Table 1 mixture beside ``multi_turn_paths`` (single-turn 20,000 and irrelevance 6,200 rows to 7,800
    multi-turn), with at least one single path per function, so that a function without edges still gets paths
    (the paper mixture may leave some of their rows out: the report names functions in no row)."""
    paper = PAPER_SFT_COUNTS
    single_turn = math.ceil(multi_turn_paths * paper["single_turn"] / paper["multi_turn"])
    auto = {kind: math.ceil(single_turn * share) for kind, share in SINGLE_TURN_SPLIT.items()}
    auto["single"] = max(auto["single"], functions)
    auto["irrelevance"] = math.ceil(multi_turn_paths * paper["irrelevance"] / paper["multi_turn"])
    return {kind: value if (value := getattr(settings, kind)) is not None else auto[kind] for kind in auto}


def recorded_pool(graph_path: str | Path) -> str | list[str]:
    """The pool ``magnet synth`` recorded beside a graph it built (``graph.json.settings.json``), else
    ``builtin`` (what ``magnet graph build`` uses by default)."""
    record = Path(f"{graph_path}.settings.json")
    recorded = json.loads(record.read_text(encoding="utf-8")).get("pool") if record.exists() else None
    return recorded if isinstance(recorded, str | list) else "builtin"


def make_translator(
    graph: FunctionGraph,
    registry: Any,
    teacher: Teacher,
    settings: TranslateSettings,
    seed: int,
    simulator: Simulator | None,
) -> Translator:
    """The back-and-forth translator the translate settings describe."""
    return Translator(graph, registry, teacher, extended(TranslateConfig, settings, seed=seed), simulator)


def translation_outcome(translator: Translator) -> Callable[[SignaturePath], Awaitable[Outcome]]:
    """The translate stage's work on one path: an episode to keep, or a rejection counted by its reason."""

    async def process(path: SignaturePath) -> Outcome:
        result = await translator.translate(path)
        if isinstance(result, Episode):
            return Outcome(record=result.to_dict())
        return Outcome(rejection=result.to_dict(), reason=result.reason)

    return process


async def translate_paths(
    translator: Translator,
    paths: Sequence[SignaturePath],
    out: str | Path,
    *,
    shard_size: int,
    max_concurrency: int,
    **stage_options: Any,
) -> StageReport:
    """Translate ``paths`` into episode shards under ``out`` (resumable: finished shards are kept);
    ``stage_options`` go to ``run_stage`` (``identity`` or ``config``, ``progress``, ``part``, ``on_shard``)."""
    return await run_stage(
        "translate",
        paths,
        translation_outcome(translator),
        out,
        shard_size=shard_size,
        max_concurrency=max_concurrency,
        **stage_options,
    )


def synthesis_teacher(settings: TeacherSettings, out: Path, usage: Any) -> Teacher:
    """The teacher (or student) the settings describe, the offline backend included."""
    return make_teacher(settings, out, usage, offline=OfflineTeacher)


def make_student(settings: NegativeSettings, out: Path, usage: Any) -> tuple[Teacher | None, str]:
    """The student model of ``negatives.source: student`` or ``sampled`` and where its tool format came from;
    ``(None, "")`` for the other sources. The settings are checked here, before any stage starts."""
    if settings.source not in ("perturb", "student", "sampled", "none"):
        raise MagnetError(f"negatives.source must be perturb, student, sampled or none, got {settings.source!r}")
    if settings.source not in ("student", "sampled"):
        return None, ""
    if settings.student is None:
        raise MagnetError(
            f"negatives.source {settings.source} needs negatives.student (the SFT model: kind hf or openai)"
        )
    tool_format, source = student_tool_format(settings.student.model, settings.student_tool_format)
    model = settings.student
    if tool_format == "native" and model.tool_calls == "auto":
        # Trained on tools through its chat template: a server that cannot take them must stop the run with the
        # fix, not show the student a text prompt it never saw.
        model = dataclasses.replace(model, tool_calls="native")
    return FormattedStudent(synthesis_teacher(model, out, usage), tool_format), source
