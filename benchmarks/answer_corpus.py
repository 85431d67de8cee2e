"""How much of what real teachers write do the step parsers read as meant?

Scores every entry of the answer corpus (``tests/fixtures/answers/corpus.jsonl``: hand-written answers in the
forms strong open models use, each with its intended content) with ``magnet.synthesis.answer_corpus.score``,
prints the share read to the intended content per step and overall, then every failing entry with its id, form
and what the parser did. Entries marked ``known_gap`` are flagged in the list. Never part of the tests'
pass/fail (tests/synthesis/test_answer_corpus.py asserts each entry).

Usage: ``python benchmarks/answer_corpus.py [corpus.jsonl]``
"""

from __future__ import annotations

import sys
from pathlib import Path

from magnet.synthesis.answer_corpus import load_corpus, score, summary

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "answers" / "corpus.jsonl"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else CORPUS
    entries = load_corpus(path)
    outcomes = [score(entry) for entry in entries]
    report = summary(outcomes)
    width = max(len(step) for step in report)
    print(f"Answer corpus: {path} ({len(entries)} entries)")
    for step, figures in report.items():
        if step == "overall":
            continue
        print(f"  {step + ':':<{width + 1}} {figures['ok']}/{figures['total']} ({figures['share']:.1%})")
    overall = report["overall"]
    print(f"  {'overall:':<{width + 1}} {overall['ok']}/{overall['total']} ({overall['share']:.1%})")
    gaps = {entry.id: entry.known_gap for entry in entries if entry.known_gap}
    failing = [outcome for outcome in outcomes if not outcome.ok]
    print(f"\nFailing entries: {len(failing)}")
    for outcome in failing:
        marker = " [known gap]" if outcome.id in gaps else ""
        print(f"  {outcome.id}{marker} ({outcome.form}): {outcome.detail}")
    fixed = [entry_id for entry_id in gaps if entry_id not in {outcome.id for outcome in failing}]
    if fixed:
        print(f"\nMarked known_gap but now read as meant: {', '.join(fixed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
