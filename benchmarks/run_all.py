"""Run every benchmark script in this folder and write their output to ``benchmarks/results.md``."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    scripts = sorted(path for path in HERE.glob("*.py") if path.name != "run_all.py")
    sections = [
        f"# Benchmark results\n\n{time.strftime('%Y-%m-%d %H:%M')} on {platform.platform()}, "
        f"Python {platform.python_version()}\n"
    ]
    failed = False
    for script in scripts:
        print(f"== {script.name}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        print(done.stdout, end="")
        if done.returncode:
            failed = True
            print(done.stderr, file=sys.stderr)
        sections.append(f"## {script.name} ({elapsed:.0f} s, exit {done.returncode})\n\n```\n{done.stdout}```\n")
    (HERE / "results.md").write_text("\n".join(sections))
    print(f"wrote {HERE / 'results.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
