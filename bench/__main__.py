"""Runs the benchmarks: `python -m bench` for all, `python -m bench NAME ...` for some."""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent
RESULTS = HERE / "results"
# The benchmarks that run the whole chain reuse the tests' harness (reliability/, support/), imported
# as pytest imports it.
sys.path.insert(0, str(HERE.parent / "tests"))


def available() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))


def show(name: str, rows: list[dict[str, object]], console: Console) -> None:
    table = Table(title=name)
    for column in rows[0] if rows else []:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


def main(names: list[str]) -> int:
    console = Console()
    unknown = set(names) - set(available())
    if unknown:
        console.print(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; available: {', '.join(available())}"
        )
        return 2
    RESULTS.mkdir(exist_ok=True)
    for name in names or available():
        module = importlib.import_module(f"bench.{name}")
        started = time.time()
        result = module.run()
        # A benchmark answers one table (a list of rows) or several by name (e.g. runs and targets).
        tables = result if isinstance(result, dict) else {"rows": result}
        for title, rows in tables.items():
            show(name if title == "rows" else f"{name}: {title}", rows, console)
        meta = {"machine": platform.machine(), "python": platform.python_version(), "started": started}
        (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, **tables}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
