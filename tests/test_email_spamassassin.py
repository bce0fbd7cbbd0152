"""A whole newsletter message, built by bot/mail.py as every channel sends it, scored by SpamAssassin (Debian's
spamassassin, local tests only: nothing leaves the machine). The hidden preheader used to cost 0.7 points
(HTML_FONT_LOW_CONTRAST: text coloured like its background); now no rule with points fires at all.

Skipped only where spamassassin is not installed and CI is not set: in CI it must run (scripts/test installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot import mail, queue, render
from bot.settings import Settings

SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = pytest.mark.skipif(SPAMASSASSIN is None and not os.environ.get("CI"),
                                reason="Debian's spamassassin is not installed (./scripts/test installs it)")
# Rules that describe a message without scoring it: not relayed (it never went through SMTP here), and HTML.
INFORMATIONAL = {"NO_RECEIVED", "NO_RELAYS", "HTML_MESSAGE", "HTML_IMAGE_RATIO_08"}


def message(settings: Settings, month: int) -> bytes:
    """One subscriber's copy of a sample edition, as the outbox writes it (March has photos and a body)."""
    items = [i for i in queue.load(settings).items if "email" in i.channels and i.date.month == month]
    newsletter = render.render_newsletter(
        items, settings, edition_date=date(2019, month, 22 if month == 3 else 26),
        unsubscribe_url=mail.unsubscribe_url(settings.effective_public_url, mail.TOKEN_PLACEHOLDER),
        archive_url=f"{settings.effective_public_url}/archive/{month}")
    prepared = mail.prepare(newsletter, mail_from=settings.effective_mail_from,
                            public_url=settings.effective_public_url, date=datetime(2019, 7, 26, 8, tzinfo=UTC))
    return prepared.message("reader@example.net", "Lucía Fernández", "T" * mail.TOKEN_LENGTH,
                            f"<edition-{month}-subscriber-1@{prepared.domain}>")


def score(raw: bytes, home: Path) -> tuple[float, dict[str, float]]:
    """(total, {rule: points}) from `spamassassin -L -t`: local tests only, the report appended to the message."""
    assert SPAMASSASSIN, "spamassassin is not installed: run ./scripts/test, which installs it"
    # Its own HOME: spamassassin keeps user preferences (and would keep Bayes data) there.
    answer = subprocess.run([SPAMASSASSIN, "-L", "-t"], input=raw, capture_output=True, check=True, timeout=120,
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)})
    report = answer.stdout.decode("utf-8", "replace")
    total = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report)
    assert total, report[-2000:]
    rules = {name: float(points)
             for points, name in re.findall(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", report[total.end():], re.M)}
    return float(total.group(1)), rules


@pytest.mark.parametrize("month", [3, 7])
def test_spamassassin_finds_nothing_to_score(sample_settings: Settings, tmp_path: Path, month: int) -> None:
    total, rules = score(message(sample_settings, month), tmp_path)
    print(f"SpamAssassin, edition of month {month}: {total} points, rules {sorted(rules)}")
    assert "HTML_FONT_LOW_CONTRAST" not in rules
    assert set(rules) <= INFORMATIONAL, rules
    assert total <= 0
