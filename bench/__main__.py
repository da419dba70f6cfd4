"""Run the benchmarks: `python -m bench` runs all, `python -m bench workspaces render` a few."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

from rich.console import Console


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)])
                   if m.name.startswith("bench_"))  # fmt: skip
    wanted = argv or names
    unknown = [n for n in wanted if n not in names]
    console = Console()
    if unknown:
        console.print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(names)}")
        return 2
    for name in wanted:
        console.rule(f"bench: {name}")
        started = time.perf_counter()
        importlib.import_module(f"bench.bench_{name}").main()
        console.print(f"[dim]({name} took {time.perf_counter() - started:.1f} s)[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
