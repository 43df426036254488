"""The live progress display shared by ``s3copy watch`` and ``s3copy local``."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as Bars
from rich.text import Text

from steps_s3_copy.cli.throughput import Throughput, describe
from steps_s3_copy.progress import Progress


class _Line:
    """A line of text the live display redraws (the throughput and the time left)."""

    def __init__(self) -> None:
        self.text = ""

    def __rich__(self) -> Text:
        return Text(self.text)


class RunProgress:
    """Two bars (objects, bytes with the rate), a line of counters and, for ``watch``, a
    line with the recent throughput and the time left; silent when disabled."""

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress = Bars(
            TextColumn("[bold]{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[extra]}"),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self._bytes_progress = Bars(
            TextColumn("[bold]{task.description:<8}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self._objects: TaskID | None = None
        self._bytes: TaskID | None = None
        self._batches: TaskID | None = None
        self._started = False
        self._rate = _Line()

    def __enter__(self) -> Self:
        self._objects = self._progress.add_task("objects", total=None, extra="")
        self._batches = self._progress.add_task("batches", total=None, extra="")
        self._bytes = self._bytes_progress.add_task("bytes", total=None)
        self._live = Live(
            Group(self._progress, self._bytes_progress, self._rate),
            console=self._progress.console,
            refresh_per_second=8,
            transient=False,
        )
        self._started = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._started:
            self._live.__exit__(exc_type, exc, tb)

    def update(self, snap: Progress, rate: Throughput | None = None) -> None:
        if not self.enabled or self._objects is None:
            return
        if rate is not None:
            self._rate.text = describe(rate)
        if not self._started:
            # Shown from the first update on: nothing to show before the copy starts.
            self._live.__enter__()
            self._started = True
        assert self._bytes is not None
        assert self._batches is not None
        # (bar, total, done, failed, what to show when none failed)
        for task, total, done, failed, none in (
            (self._objects, snap.objects_total, snap.objects_done, snap.failed, "0 failed"),
            (self._batches, snap.batches_total, snap.batches_done, snap.batches_failed, ""),
        ):
            extra = f"[red]{failed} failed[/]" if failed else none
            self._progress.update(task, total=total or None, completed=done, extra=extra)
        self._bytes_progress.update(
            self._bytes, total=snap.bytes_total or None, completed=snap.bytes_done
        )
