"""Settings: one frozen typed object; unknown or malformed values are errors with the setting's name."""

from __future__ import annotations

import dataclasses
from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.setting_values import Slot, parse_schedule
from bot.settings import SPECS, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_need_nothing() -> None:
    settings = load_settings(environ={}, env_file=None)
    assert settings.state_dir == Path("var") and settings.queue_dir == Path("content_queue")
    assert settings.timezone.key == "UTC"
    assert settings.newsletter_schedule == (Slot(4, time(10, 0)),)
    assert settings.default_post_time == time(9, 0)
    assert settings.max_lateness == timedelta(hours=24)


def test_settings_are_frozen() -> None:
    settings = load_settings(environ={}, env_file=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.timezone = None  # type: ignore[misc]


@pytest.mark.parametrize("name, value, words", [
    ("BOT_TIMEZONE", "Europe/Genf", "not an IANA time zone"),
    ("BOT_NEWSLETTER_SCHEDULE", "friday", "is not 'DAY HH:MM'"),
    ("BOT_NEWSLETTER_SCHEDULE", "fri 25:00", "not a time of day"),
    ("BOT_NEWSLETTER_SCHEDULE", "someday 10:00", "not a weekday"),
    ("BOT_DEFAULT_POST_TIME", "9am", "not a time of day"),
    ("BOT_MAX_LATENESS", "a day", "not a duration"),
    ("BOT_PUBLIC_URL", "news.example.org", "absolute http(s) URL"),
    ("BOT_LANGUAGE", "English", "ISO 639-1"),
])
def test_malformed_values_name_the_setting(name: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={name: value}, env_file=None)
    assert str(caught.value).startswith(f"environment: {name}: ")
    assert words in str(caught.value)


def test_an_unknown_bot_variable_is_a_typo() -> None:
    with pytest.raises(ConfigError, match="BOT_TIMEZNE: unknown setting \\(did you mean BOT_TIMEZONE\\?\\)"):
        load_settings(environ={"BOT_TIMEZNE": "UTC"}, env_file=None)


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BOT_TIMEZONE=Europe/Zurich\nBOT_ORG_NAME='Geneva Desk'\n# a comment\n")
    settings = load_settings(environ={"BOT_ORG_NAME": "From env"}, env_file=env_file)
    assert settings.timezone.key == "Europe/Zurich"
    assert settings.org_name == "From env"
    assert settings.sources["BOT_TIMEZONE"] == str(env_file)


def test_unknown_key_in_env_file_is_an_error(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BOT_QUEUE_DIRR=x\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(environ={}, env_file=env_file)


def test_schedule_accepts_several_slots() -> None:
    assert parse_schedule("daily 08:00") == (Slot(None, time(8, 0)),)
    assert parse_schedule("Mon 10:00, thursday 9:30") == (Slot(0, time(10, 0)), Slot(3, time(9, 30)))


def test_env_example_and_readme_document_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in SPECS:
        assert f"\n{name}=" in example or f"\n# {name}=" in example, f"{name} missing from .env.example"
        assert f"`{name}`" in readme, f"{name} missing from README.md"


def test_env_example_loads_as_is(tmp_path: Path) -> None:
    settings = load_settings(environ={}, env_file=ROOT / ".env.example")
    assert settings.timezone.key == "UTC"


# --- BOT_SECRET strength: a weak one was found offline from one unsubscribe token, then forged a session -----

SMTP = {"BOT_EMAIL_BACKEND": "smtp", "MAIL_FROM": "News <news@example.org>",
        "BOT_PUBLIC_URL": "https://news.example.org", "SMTP_HOST": "mail.example.org"}
STRONG = "Xr4tT9qkPz2vLw8sNm3bYc6dFh1jGa5eKo7uQi0lRs_yWx-V"  # as secrets.token_urlsafe(36) writes


@pytest.mark.parametrize("secret, words", [
    ("changeme", "BOT_SECRET: is 8 characters; use at least 32 random ones, e.g. "
                 "python3 -c \"import secrets; print(secrets.token_urlsafe(48))\""),
    ("changeme" * 4, "BOT_SECRET: has only 7 different characters; use at least 32 random ones"),
    ("a" * 64, "BOT_SECRET: has only 1 different character; use at least 32 random ones"),
    ("correct-horse-" * 3, "BOT_SECRET: repeats the same 14 characters; use at least 32 random ones"),
])
def test_a_weak_bot_secret_is_refused_with_a_real_backend(secret: str, words: str) -> None:
    for backends in (SMTP, {"BOT_MASTODON_BACKEND": "api", "MASTODON_BASE_URL": "https://social.example.org",
                            "MASTODON_ACCESS_TOKEN": "token"}):
        with pytest.raises(ConfigError) as caught:
            load_settings(environ={**backends, "BOT_SECRET": secret}, env_file=None)
        assert str(caught.value).startswith("environment: BOT_SECRET: ") and words in str(caught.value)
        assert secret not in str(caught.value)
        assert "\n" not in str(caught.value)


def test_a_strong_bot_secret_and_the_outbox_default_are_accepted(tmp_path: Path) -> None:
    assert load_settings(environ={**SMTP, "BOT_SECRET": STRONG}, env_file=None).secret.reveal() == STRONG
    # Outbox only: nothing leaves the machine, and without BOT_SECRET the key is random (BOT_STATE_DIR/secret.key).
    assert not load_settings(environ={"BOT_STATE_DIR": str(tmp_path)}, env_file=None).secret


# --- BOT_ADMIN_PASSWORD: only the hash `bot hash-password` writes, at least as strong ------------------------


@pytest.mark.parametrize("digest", [
    "pbkdf2:sha256:1$salt$" + "0" * 64,  # one iteration: a guess per nanosecond
    "pbkdf2:sha256:600000$abcdefghijklmnop$" + "0" * 64,  # werkzeug's pbkdf2, still not what hash-password writes
    "scrypt:1024:8:1$abcdefghijklmnop$" + "0" * 128,  # scrypt with 32 times less work
    "scrypt:32768:1:1$abcdefghijklmnop$" + "0" * 128,
    "scrypt:32768:8:1$abcdefghijklmnop$" + "0" * 12,  # cut short
])
def test_a_weak_admin_password_hash_is_refused(digest: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"BOT_ADMIN_PASSWORD": digest}, env_file=None)
    message = str(caught.value)
    assert message.startswith("environment: BOT_ADMIN_PASSWORD: ") and "run bot hash-password" in message
    assert digest not in message and "\n" not in message


def test_the_hash_bot_hash_password_writes_is_accepted() -> None:
    from werkzeug.security import generate_password_hash

    digest = generate_password_hash("a long staff password")
    assert load_settings(environ={"BOT_ADMIN_PASSWORD": digest}, env_file=None).admin_password.reveal() == digest
    stronger = generate_password_hash("a long staff password", method="scrypt:65536:8:2")
    assert load_settings(environ={"BOT_ADMIN_PASSWORD": stronger}, env_file=None).admin_password


def test_bot_config_shows_each_value_as_it_is_written_in_env() -> None:
    from click.testing import CliRunner

    from bot.cli import cli

    shown = CliRunner().invoke(cli, ["--env-file", "/dev/null", "config"],
                               env={"BOT_MAX_LATENESS": "90m", "BOT_TIMEZONE": "Europe/Zurich",
                                    "SMTP_RATE": "10"}).stdout
    assert "BOT_MAX_LATENESS=90m  # environment" in shown and "BOT_HTTP_TIMEOUT=30s  # default" in shown
    assert "SMTP_RATE=10  # environment" in shown  # as it is written, not 10.0
    assert "BOT_MAX_ITEM_AGE=14d" in shown and "SMTP_PORT=  # default" in shown
    for raw in ("None", "=0:00:", "day,", "True", "False"):
        assert raw not in shown, raw


def test_a_value_in_a_message_is_shown_as_typed_not_as_python_writes_it() -> None:
    """A backslash stays one backslash and a quote a quote (Python's repr escapes both); invisible characters are
    spelled out, since they are what is wrong."""
    from bot.errors import quoted

    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"BOT_TIMEZONE": "Europe\\Zurich"}, env_file=None)
    assert "'Europe\\Zurich' is not an IANA time zone name" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"BOT_NEWSLETTER_SCHEDULE": "fri 10:00, Friday's 10:00"}, env_file=None)
    assert "'Friday's' is not a weekday" in str(raised.value)
    assert quoted("a\tb\u200bc") == "'a\\tb\\u200bc'"


def test_a_settings_file_line_that_would_be_cut_or_dropped_is_refused(tmp_path: Path) -> None:
    """python-dotenv reads `Rue #1` as `Rue` and skips a line it cannot read: either would change what goes out
    without a word (every footer's postal address; the organisation's name back to its default)."""
    cases = {
        "BOT_ORG_ADDRESS=Rue #1, Geneva\n": ":1: BOT_ORG_ADDRESS: ' #' starts a comment in a settings file, which "
                                            "cuts the value to 'Rue': put the whole value in double quotes",
        "BOT_TIMEZONE=UTC\nBOT_ORG_NAME=\"Amnesty Geneva\n": ":2: this line is not NAME=value",
    }
    for text, said in cases.items():
        path = tmp_path / "bad.env"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as raised:
            load_settings(environ={}, env_file=path)
        assert str(raised.value).startswith(f"{path}{said}"), str(raised.value)
    good = tmp_path / "good.env"
    good.write_text('# a comment\nBOT_ORG_ADDRESS="Rue #1, Geneva"\nexport BOT_TIMEZONE=Europe/Zurich\n\n')
    settings = load_settings(environ={}, env_file=good)
    assert settings.org_address == "Rue #1, Geneva" and settings.timezone.key == "Europe/Zurich"


def test_languages_the_first_is_the_default_and_bot_language_agrees() -> None:
    from bot.settings import load_settings
    from bot.settings_view import describe

    alone = load_settings(environ={"BOT_LANGUAGE": "fr"}, env_file=None)
    assert (alone.language, alone.languages) == ("fr", ("fr",))
    three = load_settings(environ={"BOT_LANGUAGES": "es, EN,fr"}, env_file=None)
    assert (three.language, three.languages) == ("es", ("es", "en", "fr"))
    assert ("BOT_LANGUAGE", "es", "the first of BOT_LANGUAGES") in describe(three)
    assert load_settings(environ={"BOT_LANGUAGES": "en,fr", "BOT_LANGUAGE": "en"}, env_file=None).language == "en"
    for listed, alone, said in (("en,fr", "fr", "starts with en"), ("en,en", "", "listed twice"),
                                ("en,french", "", "not an ISO 639-1")):
        env = {"BOT_LANGUAGES": listed, **({"BOT_LANGUAGE": alone} if alone else {})}
        with pytest.raises(ConfigError, match=said):
            load_settings(environ=env, env_file=None)
