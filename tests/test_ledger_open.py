"""Opening the ledger: several openers of a new state file at once (bot serve's threads beside bot run) all succeed."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.ledger import Ledger


def test_many_openers_of_a_new_state_file_at_once_all_succeed(tmp_path: Path) -> None:
    # Before the setup lock, about 6 rounds in 100 saw "database is locked": SQLite refuses, without waiting, a
    # second connection switching a new file to WAL. 100 rounds make a regression show almost every run.
    failed: list[BaseException] = []
    for round_ in range(100):
        folder = tmp_path / str(round_)

        def open_and_close(folder: Path = folder) -> None:
            try:
                Ledger.open(folder).close()
            except BaseException as exc:  # collected for the assertion below
                failed.append(exc)

        threads = [threading.Thread(target=open_and_close) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failed == []
