"""cli, while an edition goes out: its progress on the terminal (a bar per edition), or one line a tenth in a log."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any


class _Plain:
    """Progress as plain lines on stderr, one per tenth of an edition: for logs and pipes."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone

    def __enter__(self) -> _Plain:
        self.shown: dict[int, int] = {}
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __call__(self, edition_id: int, done: int, total: int) -> None:
        import click

        tenth = done * 10 // max(total, 1)
        if tenth > self.shown.get(edition_id, -1):
            self.shown[edition_id] = tenth
            stamp = f"{datetime.now(self.zone):%Y-%m-%d %H:%M:%S %z}"  # as the log lines are stamped
            click.echo(f"{stamp} edition {edition_id}: {done:,} of {total:,} handed over", err=True)


class _Bar:
    """A rich progress bar per edition, on a terminal."""

    def __enter__(self) -> _Bar:
        from rich.progress import Progress

        self.bar = Progress(transient=False)
        self.bar.start()
        self.tasks: dict[int, Any] = {}
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, edition_id: int, done: int, total: int) -> None:
        if edition_id not in self.tasks:
            self.tasks[edition_id] = self.bar.add_task(f"edition {edition_id}", total=total)
        self.bar.update(self.tasks[edition_id], completed=done)


def progress_reporter(terminal: bool, zone: tzinfo) -> Any:
    return _Bar() if terminal else _Plain(zone)
