"""The one error hierarchy every stage raises; the CLI turns each into a one-line message and an exit code."""

from __future__ import annotations


class HeraldError(Exception):
    """Base of every error Herald raises on purpose; anything else is a bug."""

    exit_code = 1


class ConfigError(HeraldError):
    """A setting is unknown, missing or malformed."""

    exit_code = 3


class ContentError(HeraldError):
    """A queue file, campaigns.yaml or a subscriber list is wrong; names the file and the field."""

    exit_code = 4

    def __init__(self, path: str, field: str, message: str, line: int | None = None) -> None:
        self.path = path
        self.field = field
        self.message = message
        self.line = line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field}: {message}")


class RenderError(HeraldError):
    """A template failed to render or compile: a bug in a template, not in content."""

    exit_code = 5


class ChannelError(HeraldError):
    """A backend refused or failed a delivery."""

    exit_code = 6


class TransientChannelError(ChannelError):
    """Worth retrying later: timeouts, 5xx, 429, SMTP 4xx. `retry_after` is seconds, when the server said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FinalChannelError(ChannelError):
    """Never retried automatically: content rejected, duplicate, recipient refused."""


class ChannelAuthError(FinalChannelError):
    """Credentials rejected, or the account stopped from sending: the channel stops for the rest of the run. `what`
    says which, as `bot doctor` and the logs name it."""

    def __init__(self, message: str = "", what: str = "credentials refused") -> None:
        super().__init__(message)
        self.what = what


def quoted(value: str) -> str:
    """A value as a message shows it to a person: in single quotes, as typed (a backslash stays one backslash, a
    quote stays a quote, where Python's repr would escape them), with only invisible characters spelled out
    (a tab as \\t, a zero-width space as \\u200b) so that the person can see what is wrong."""
    return "'" + "".join(c if c.isprintable() else repr(c)[1:-1] for c in value) + "'"


def counted(n: int, word: str, plural: str = "") -> str:
    """`1 item`, `2 items`, `1,204 subscribers`: the number and its noun, as a person writes them."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"

# --- printing ---------------------------------------------------------------------------------------------
