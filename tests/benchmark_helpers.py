"""Run one developer-benchmark section from a test, as its command line does."""

from __future__ import annotations

import pandas as pd

from tools.benchmarks import cli


def section_table(name: str, argv: list[str]) -> pd.DataFrame | None:
    """One section's table, made as `python -m tools.benchmarks.<name> ARGV` makes it (threads set, then restored)."""
    return cli.run(cli.parse_opt(argv, (name,))).get(name)
