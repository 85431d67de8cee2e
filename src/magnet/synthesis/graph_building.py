"""Building the function graph of a pool: label the functions that lack labels, draw each function's candidates,
and have a judge decide the edges and their nestedness, concurrently and behind a semaphore.

Kept apart from the graph (data) and the judges (decisions): this is the one place that schedules teacher
requests and reports progress.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from magnet.errors import MagnetError, StepError, TeacherError
from magnet.llm.client import Teacher
from magnet.synthesis.config import GraphSettings
from magnet.synthesis.graph_judges import DependencyJudge
from magnet.synthesis.graph_model import FALLBACK_CATEGORY, UNLABELLED_CLASS, Edge, FunctionGraph
from magnet.synthesis.steps import LABEL, LabelInputs, run_step
from magnet.tools.spec import FunctionSpec

# Logged under the graph module's name, as before the graph was split into modules (filters and tests use it).
logger = logging.getLogger("magnet.synthesis.graph")


@dataclass
class GraphConfig(GraphSettings):
    """How the graph is built: the graph settings of a synth config, the seed, and requests in flight."""

    seed: int = 0
    max_concurrency: int = 16


class _Others(Sequence[str]):
    """A group of function names without one of them, as a sequence ``random.sample`` draws from: the same draws as
    from the list without it, in O(1) space and time per function rather than a copy of the whole group (at
    StableToolBench's scale a category holds hundreds of functions)."""

    def __init__(self, names: list[str], skipped: int):
        self.names = names
        self.skipped = skipped

    def __len__(self) -> int:
        return len(self.names) - 1

    def __getitem__(self, index):  # random.sample indexes with ints only
        return self.names[index + (index >= self.skipped)]


def sample_candidates(specs: Sequence[FunctionSpec], config: GraphConfig) -> dict[str, list[str]]:
    """Up to ``config.candidates`` candidate neighbours per function, from its category and tool class.

    When fewer than ``min_class_size`` other functions share the tool class, the candidates come from the whole
    category. Each function's draw uses its own seeded RNG, so adding a function elsewhere does not reshuffle it.
    """
    by_class: dict[tuple[str, str], list[str]] = {}
    by_category: dict[str, list[str]] = {}
    position: dict[str, tuple[int, int]] = {}  # a function's index in its class and in its category
    for spec in specs:
        same_class = by_class.setdefault((spec.category or "misc", spec.tool_class or "misc"), [])
        same_category = by_category.setdefault(spec.category or "misc", [])
        position[spec.name] = (len(same_class), len(same_category))
        same_class.append(spec.name)
        same_category.append(spec.name)
    candidates = {}
    for spec in specs:
        in_class, in_category = position[spec.name]
        pool = _Others(by_class[(spec.category or "misc", spec.tool_class or "misc")], in_class)
        if len(pool) < config.min_class_size:
            pool = _Others(by_category[spec.category or "misc"], in_category)
        rng = random.Random(f"{config.seed}:{spec.name}")
        candidates[spec.name] = sorted(rng.sample(pool, min(config.candidates, len(pool))))
    return candidates


@dataclass(frozen=True)
class Labelling:
    """The outcome of asking a teacher for labels: every spec (labelled where the teacher answered), how many were
    asked for, and why each failed one was not labelled."""

    specs: list[FunctionSpec]
    asked: int
    failed: dict[str, str]


async def label_functions(
    specs: Sequence[FunctionSpec],
    teacher: Teacher,
    *,
    relabel: bool = False,
    max_concurrency: int = 16,
    progress: bool = False,
) -> Labelling:
    """Ask the teacher for the category and tool class of the functions that lack either (every function with
    ``relabel``); a function the teacher cannot label (no usable answer, or the request failed for good) keeps
    what it had, and its error is in ``failed``."""
    semaphore = asyncio.Semaphore(max_concurrency)
    todo = [spec for spec in specs if relabel or not (spec.category and spec.tool_class)]
    failed: dict[str, str] = {}
    bar = tqdm(total=len(todo), desc="label", unit="fn", disable=not progress)

    async def label(spec: FunctionSpec) -> FunctionSpec:
        async with semaphore:
            try:
                result = await run_step(teacher, LABEL, LabelInputs(spec))
            except (StepError, TeacherError) as error:
                failed[spec.name] = str(error)
                return spec
            finally:
                bar.update()
        return dataclasses.replace(spec, category=result.value.category, tool_class=result.value.tool_class)

    try:
        labelled = dict(zip((s.name for s in todo), await asyncio.gather(*(label(s) for s in todo)), strict=True))
    finally:
        bar.close()
    return Labelling([labelled.get(spec.name, spec) for spec in specs], len(todo), failed)


async def label_missing(
    specs: Sequence[FunctionSpec], teacher: Teacher, max_concurrency: int = 16
) -> list[FunctionSpec]:
    """Give functions without a category or tool class the teacher's labels (the paper's labelling step).

    A function the teacher cannot label (no usable answer, or the request failed for good) keeps what it has and
    gets category ``FALLBACK_CATEGORY`` and tool class ``UNLABELLED_CLASS`` for what it lacks, with a warning
    naming it; one more warning counts them all. ``FunctionGraph.stats().unlabelled`` lists them later.

    Example:
        >>> from magnet.synthesis.offline import OfflineTeacher
        >>> bare = FunctionSpec("get_weather", "Weather in a city.")
        >>> [(s.category, s.tool_class) for s in asyncio.run(label_missing([bare], OfflineTeacher()))]
        [('Weather', 'Weather tool')]
    """
    labelling = await label_functions(specs, teacher, max_concurrency=max_concurrency)
    labelled = []
    for spec in labelling.specs:
        if spec.name in labelling.failed:
            logger.warning(
                "could not label function %r (%s); it gets category %r, tool class %r",
                spec.name,
                labelling.failed[spec.name],
                spec.category or FALLBACK_CATEGORY,
                spec.tool_class or UNLABELLED_CLASS,
            )
            spec = dataclasses.replace(
                spec, category=spec.category or FALLBACK_CATEGORY, tool_class=spec.tool_class or UNLABELLED_CLASS
            )
        labelled.append(spec)
    if labelling.failed:
        logger.warning(
            "%d of %d functions could not be labelled (e.g. %s); see the warnings above",
            len(labelling.failed),
            len(specs),
            sorted(labelling.failed)[:5],
        )
    return labelled


async def build_graph(
    specs: Sequence[FunctionSpec],
    judge: DependencyJudge,
    config: GraphConfig | None = None,
    *,
    teacher: Teacher | None = None,
    progress: bool = True,
) -> FunctionGraph:
    """Build the function graph of a pool.

    Functions without category or tool class are labelled by ``teacher`` first (an error without one; a function
    it cannot label gets the fallback labels of ``label_missing``, a warning, and a place in
    ``stats().unlabelled``). Then every function is judged against its candidates, and every edge for
    nestedness. A target whose judgement fails (the teacher gave up) gets no edges; that is logged in the edges'
    absence, not fatal.
    """
    config = config or GraphConfig()
    specs = list(specs)
    duplicates = sorted(name for name, count in Counter(spec.name for spec in specs).items() if count > 1)
    if duplicates:
        raise MagnetError(f"the pool has duplicate function names {duplicates}")
    unlabelled = [spec.name for spec in specs if not (spec.category and spec.tool_class)]
    if unlabelled:
        if teacher is None:
            raise MagnetError(
                f"{len(unlabelled)} functions have no category/tool class (e.g. {unlabelled[:3]}); "
                "pass a teacher to label them"
            )
        specs = await label_missing(specs, teacher, config.max_concurrency)
    by_name = {spec.name: spec for spec in specs}
    candidates = sample_candidates(specs, config)
    semaphore = asyncio.Semaphore(config.max_concurrency)
    bar = tqdm(total=len(specs), desc=f"graph ({judge.name})", unit="fn", disable=not progress)

    async def judge_target(spec: FunctionSpec) -> list[Edge]:
        async with semaphore:
            try:
                edges = await judge.related(spec, [by_name[n] for n in candidates[spec.name]])
            except (StepError, TeacherError):
                edges = []
        judged = []
        for edge in edges:
            async with semaphore:
                try:
                    nested, reason = await judge.nested(spec, by_name[edge.target])
                except (StepError, TeacherError) as error:
                    nested, reason = False, f"not judged: {error}"
            judged.append(dataclasses.replace(edge, nested=nested, nested_reason=reason))
        bar.update()
        return judged

    dropped_before = len(getattr(judge, "dropped", []))
    try:
        results = await asyncio.gather(*(judge_target(spec) for spec in specs))
    finally:
        bar.close()
    dropped = getattr(judge, "dropped", [])[dropped_before:]
    if dropped:
        logger.warning(
            "the dependency judge named %d functions that were not among the candidates (dropped; e.g. %s -> %s)",
            len(dropped),
            *dropped[0],
        )
    return FunctionGraph.from_edges(specs, [edge for edges in results for edge in edges])
