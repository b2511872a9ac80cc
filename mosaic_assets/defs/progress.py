"""Progress of long steps in the Dagster logs: the pure modules call back with counts, this logs them."""
from __future__ import annotations

from collections.abc import Callable

import dagster as dg

REPORTS = 4  # log about this many times per step, and always the last count


def progress_logger(context: dg.AssetExecutionContext, subject: str, what: str) -> Callable[[int, int], None]:
    """``report(i, n)`` logs ``"{subject}: {what} {i}/{n}"`` every n/REPORTS counts and at n."""
    def report(i: int, n: int) -> None:
        if i == n or i % max(1, n // REPORTS) == 0:
            context.log.info(f"{subject}: {what} {i}/{n}")
    return report
