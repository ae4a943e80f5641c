"""What the demo shows while the month runs: a progress bar on a terminal, plain lines elsewhere.

The bar counts accounts that have settled (live, quarantined, or waiting and
escalated to a named owner) against the orders signed; beside it the business
date, live / open / escalated, the elapsed time and rich's estimate of what is
left.  When the output is not a terminal (a CI log, a pipe) a plain line is
printed every ``PLAIN_EVERY`` seconds instead.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from types import TracebackType
from typing import Any

PLAIN_EVERY = 20.0


class MonthProgress:
    """A context manager; call :meth:`update` with the month's state as often as it is read."""

    def __init__(self, expected_orders: int, *, plain: bool | None = None) -> None:
        self.expected = max(1, expected_orders)
        self.plain = not sys.stdout.isatty() if plain is None else plain
        self._shown = 0.0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> MonthProgress:
        if not self.plain:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.fields[day]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                refresh_per_second=2,
            )
            self._bar.start()
            self._task = self._bar.add_task("month", total=self.expected, day="", counts="")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def note(self, message: str) -> None:
        """A line above the bar (or among the plain lines)."""
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            print(message, flush=True)

    def update(self, now: datetime, signed: int, state: dict[str, Any]) -> None:
        """Show the business time ``now``, orders ``signed`` so far and the store's counts."""
        out = int(state.get("out_of_pilot") or 0)
        settled = int(state["live"]) + int(state["quarantined"]) + int(state["escalated"]) + out
        counts = (
            f"live {state['live']}  open {state['open']} (escalated {state['escalated']})  "
            f"quarantined {state['quarantined']}  out of pilot {out}  signed {signed}"
        )
        if self._bar is not None:
            day = f"{now:%a %d %b %H:%M}"
            self._bar.update(self._task, completed=min(settled, self.expected), day=day, counts=counts)
        elif time.monotonic() - self._shown >= PLAIN_EVERY:
            self._shown = time.monotonic()
            print(f"    {now:%a %d %b %H:%M}  {settled}/{self.expected} settled  {counts}", flush=True)
