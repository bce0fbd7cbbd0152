"""`--help` of every command and subcommand, as a person reads it at 80 columns: whole words, whole paths, every
option described."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from bot.cli import cli

WIDTH = 80


def _walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, group
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _walk(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = list(_walk(cli))


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": str(WIDTH)}, terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    return result.stdout


def _flat(text: str) -> str:
    return " ".join(text.split())


def _entries(page: str, heading: str) -> dict[str, str]:
    """The rows of a section (`Commands:`, `Options:`), each with its description's lines joined again."""
    section = page.split(f"\n{heading}:\n", 1)[1].split("\n\n", 1)[0]
    rows: dict[str, list[str]] = {}
    current = ""
    for line in section.splitlines():
        if re.match(r"  \S", line):  # a term; its description follows two spaces on, or on the lines below
            current, _, text = line[2:].partition("  ")
            rows[current] = [text]
        else:
            rows[current].append(line.strip())
    return {term: _flat(" ".join(lines)) for term, lines in rows.items()}


def test_every_command_is_walked() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "validate", "run", "newsletter send", "subscribers list", "staff add", "media add", "serve"} <= names


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "bot" for p, _ in COMMANDS])
def test_help_reads_whole_at_80_columns(path: tuple[str, ...], command: click.Command) -> None:
    page = _help(path)
    lines = page.splitlines()
    assert all(len(line) <= WIDTH for line in lines), page
    # A line that ends in a hyphen glued to a word has split a word or a path (demo-|subscribers.csv).
    assert not [line for line in lines if re.search(r"\w-$", line)], page
    # The description is there whole: nothing cut, nothing split (whitespace aside).
    assert _flat(command.help or "") in _flat(page), page
    options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
    assert not [p.name for p in options if not p.help], f"options without help: {page}"
    shown = _entries(page, "Options")
    for option in options:
        row = next(text for term, text in shown.items() if term.split(" ")[0].rstrip(",") in option.opts)
        assert row.startswith(_flat(option.help or "")), (option.name, page)
    if isinstance(command, click.Group):
        listed = _entries(page, "Commands")
        for name, sub in command.commands.items():
            whole = _flat(sub.get_short_help_str(limit=10_000))  # what it says when nothing is cut
            assert listed[name] == whole and not whole.endswith("..."), f"{name} is cut: {page}"


def test_a_default_path_is_never_split_at_its_hyphen() -> None:
    page = _help(("demo",))
    assert "[default: demo-subscribers.csv]" in _flat(page)
