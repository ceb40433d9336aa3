"""One progress display for every long loop (train, eval, predict, convert, synth, microbe, extract).

On a terminal it draws a rich bar with the known total, the rate and the time left. When stdout is
not a terminal (SLURM, nohup, CI, a pipe) it prints a plain line every `log_every` seconds instead,
so a long run in a log file never looks dead:

    [train] 1,280/9,600 videos (13%)  412.3 videos/s  elapsed 0:00:03  left 0:00:20  loss 0.012

Usage::

    with Progress("predict", total=n_videos, unit="videos") as bar:
        for batch in loader:
            ...
            bar.advance(len(batch), loss=f"{loss:.3f}")
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import TextIO


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=int(max(seconds, 0))))


class Progress:
    """A progress context: `advance(n, **fields)`, `set_total(total)`, `update(done, total, **fields)`.

    `enabled=False` makes every call a no-op; `plain=None` picks plain lines when `stream` is not a
    terminal. `fields` are shown after the counts (loss, GAP, skipped records, ...).
    """

    def __init__(
        self,
        description: str,
        total: int | None = None,
        *,
        unit: str = "items",
        enabled: bool = True,
        plain: bool | None = None,
        log_every: float = 30.0,
        stream: TextIO | None = None,
    ) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.enabled, self.log_every = enabled, log_every
        self.stream = stream or sys.stdout
        self.plain = (not _is_terminal(self.stream)) if plain is None else plain
        self.done = 0
        self.fields: dict[str, object] = {}
        self._start = self._last_line = 0.0
        self._rich = None
        self._task = None

    # -- context ------------------------------------------------------------------------------------

    def __enter__(self) -> "Progress":
        self._start = self._last_line = time.perf_counter()
        if self.enabled and not self.plain:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn(f"[bold]{self.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(self.unit),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[extra]}"),
                console=Console(file=self.stream),
            )
            self._rich.start()
            self._task = self._rich.add_task(self.description, total=self.total, rate="", extra="")
        return self

    def __exit__(self, *exc) -> None:
        if not self.enabled:
            return
        if self._rich is not None:
            self._refresh()
            self._rich.stop()
        elif exc[0] is None:
            self._line(final=True)

    # -- updates ------------------------------------------------------------------------------------

    def advance(self, n: int = 1, **fields) -> None:
        self.update(self.done + n, **fields)

    def set_total(self, total: int | None) -> None:
        self.total = total
        if self._rich is not None:
            self._rich.update(self._task, total=total)

    def update(self, done: int, total: int | None = None, **fields) -> None:
        if not self.enabled:
            return
        self.done = done
        if total is not None:
            self.set_total(total)
        self.fields.update(fields)
        if self._rich is not None:
            self._refresh()
        elif time.perf_counter() - self._last_line >= self.log_every:
            self._line()

    # -- rendering ----------------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    @property
    def rate(self) -> float:
        return self.done / max(self.elapsed, 1e-9)

    @property
    def seconds_left(self) -> float | None:
        if not self.total or not self.done:
            return None
        return max(self.total - self.done, 0) / max(self.rate, 1e-12)

    def _extra(self) -> str:
        return "  ".join(f"{k} {v}" for k, v in self.fields.items())

    def _refresh(self) -> None:
        self._rich.update(self._task, completed=self.done, rate=f"{self.rate:,.1f} {self.unit}/s", extra=self._extra())

    def _line(self, final: bool = False) -> None:
        self._last_line = time.perf_counter()
        if self.total:
            counts = f"{self.done:,}/{self.total:,} {self.unit} ({100 * self.done / self.total:.0f}%)"
        else:
            counts = f"{self.done:,} {self.unit}"
        left = self.seconds_left
        parts = [f"[{self.description}] {counts}", f"{self.rate:,.1f} {self.unit}/s", f"elapsed {_clock(self.elapsed)}"]
        if left is not None and not final:
            parts.append(f"left {_clock(left)}")
        if final:
            parts.append("done")
        if self.fields:
            parts.append(self._extra())
        print("  ".join(parts), file=self.stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
