"""`bot init`: a clean first day in an empty folder, which `bot validate` passes; never a file overwritten."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from bot import itemfile, queue
from bot.cli import cli
from bot.settings import load_settings

from .conftest import ROOT


def bot(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env or {})


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_init_in_an_empty_folder_then_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = bot("init", "--timezone", "Europe/Zurich")
    assert result.exit_code == 0, result.output
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Zurich")).date().isoformat()
    [item] = (tmp_path / "content_queue").glob("*.md")
    assert item.name.startswith(today)
    assert set(files(tmp_path)) == {".env", "content_queue/campaigns.yaml", f"content_queue/{item.name}"}
    assert [line.split(":")[0] for line in result.stdout.splitlines()[:3]] == ["created"] * 3
    assert "Next:" in result.stdout and "bot validate" in result.stdout and "bot serve" in result.stdout

    validated = bot("validate")  # reads ./.env, as a person would run it
    assert validated.exit_code == 0, validated.output
    assert "1 item file in content_queue, 1 valid, 0 problems, 0 warnings." in validated.stdout

    loaded = queue.load(load_settings(environ={}, env_file=tmp_path / ".env"))
    [example] = loaded.items
    assert example.draft and example.date.isoformat() == today and example.campaign is not None
    # Exactly the file the composer writes for these fields.
    text = item.read_text(encoding="utf-8")
    assert itemfile.to_text(itemfile.read(item, example.id, text.encode())) == text


def test_the_env_file_is_env_example_with_a_new_secret_and_private(tmp_path: Path) -> None:
    assert bot("init", str(tmp_path / "a"), "--timezone", "America/Bogota").exit_code == 0
    assert bot("init", str(tmp_path / "b")).exit_code == 0
    env = (tmp_path / "a" / ".env").read_text(encoding="utf-8")
    assert (tmp_path / "a" / ".env").stat().st_mode & 0o777 == 0o600
    secrets = [re.search(r"^BOT_SECRET=(.+)$", (tmp_path / f / ".env").read_text(), re.MULTILINE).group(1)
               for f in ("a", "b")]
    assert len(secrets[0]) == 64 and secrets[0] != secrets[1]
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert env.endswith(example.replace("\nBOT_SECRET=\n", f"\nBOT_SECRET={secrets[0]}\n")
                        .replace("\nBOT_TIMEZONE=UTC\n", "\nBOT_TIMEZONE=America/Bogota\n"))
    settings = load_settings(environ={}, env_file=tmp_path / "a" / ".env")
    assert settings.secret.reveal() == secrets[0] and settings.timezone.key == "America/Bogota"


def test_init_twice_keeps_every_file_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "org"
    first = bot("init", str(folder))
    assert first.exit_code == 0 and f"Next, in {folder} (cd {folder} first):" in first.stdout
    before = files(folder)
    (folder / ".env").write_text((folder / ".env").read_text() + "# my own edit\n")
    before[".env"] = (folder / ".env").read_bytes()
    second = bot("init", str(folder))
    assert second.exit_code == 0, second.output
    assert files(folder) == before
    assert "created:" not in second.stdout
    assert f"kept: {folder / '.env'}  (it exists: left as it was)" in second.stdout
    assert f"kept: {folder / 'content_queue' / 'campaigns.yaml'}  (it exists: left as it was)" in second.stdout
    assert f"kept: {folder / 'content_queue'}  (it holds items already: no example added)" in second.stdout


def test_a_campaigns_file_of_its_own_is_kept_and_the_example_still_validates(tmp_path: Path) -> None:
    queue_dir = tmp_path / "content_queue"
    queue_dir.mkdir()
    (queue_dir / "campaigns.yaml").write_text("Other:\n  name: Ours\n  hashtags: [Ours]\n  start: 2026-01-01\n"
                                              "  end: 2026-12-31\n")
    result = bot("init", str(tmp_path))
    assert result.exit_code == 0, result.output
    loaded = queue.load(load_settings(environ={}, env_file=None, overrides={"BOT_QUEUE_DIR": str(queue_dir)}))
    assert loaded.problems == [] and len(loaded.items) == 1 and loaded.items[0].campaign is None


def test_a_bad_time_zone_is_a_usage_error(tmp_path: Path) -> None:
    result = bot("init", str(tmp_path), "--timezone", "Mars/Olympus")
    assert result.exit_code == 2 and "is not an IANA time zone name" in result.output
    assert not any(tmp_path.iterdir())


def test_the_package_carries_env_example_for_installed_copies() -> None:
    shipped = resources.files("bot").joinpath("env.example").read_text(encoding="utf-8")
    assert shipped == (ROOT / ".env.example").read_text(encoding="utf-8")
