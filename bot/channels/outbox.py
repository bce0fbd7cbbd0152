"""The outbox backend, the embedded default: every message and post is written under BOT_STATE_DIR/outbox/.

Emails become one RFC 5322 `.eml` file each, exactly the bytes SMTP would carry. Posts become one JSON file
each (social.file_record): the body as composed, the pictures that go with it, and in words what the real
backend adds when it sends (uploaded pictures' ids, Bluesky's link card), which needs the network. Files are
written whole (a temporary file renamed into place), and writing the same message again replaces it: a retry
is harmless.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .. import private
from ..settings import Settings
from ..social import file_record
from . import EVERY_KIND, Failed, Outcome, Outgoing, OutgoingMail, OutgoingPost, Sent, register


def post_file(item: str, part: int, lang: str = "") -> str:
    """A post's file name in the outbox and the preview: part N of a reply thread is <item>.part<N>.json, and a
    translation's post has its language after the item, as the translation's file has (<item>.fr.json)."""
    name = f"{item}.{lang}" if lang else item
    return f"{name}.json" if part == 1 else f"{name}.part{part}.json"


def write_atomically(path: Path, data: bytes) -> None:
    # 0600 in folders of 0700: a message holds its reader's address and live unsubscribe token.
    private.write_atomically(path, data)


class Outbox:
    name = "outbox"
    sends_raw = True  # the message's bytes go as they are: they can carry a DKIM signature (bot.signing)
    batch_size = 1
    limit: int | None = None

    def __init__(self, settings: Settings, kind: str) -> None:
        self.kind = kind
        self.folder = settings.outbox_dir / kind
        self.state_dir = settings.state_dir

    def _ready(self) -> None:
        """The state folder, outbox/ and outbox/KIND, each 0700 (an older Herald's 0755 is tightened)."""
        private.folder(self.folder, top=self.state_dir)

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            self._ready()
        except OSError as exc:
            return [Failed(f"cannot write {exc.filename}: {exc.strerror}", transient=True) for _ in messages]
        for message in messages:
            path = self._path(message)
            try:
                if isinstance(message, OutgoingMail):
                    write_atomically(path, message.raw())
                    outcomes.append(Sent(message.message_id))
                elif isinstance(message, OutgoingPost):
                    record = file_record(message.platform, message.item, message.payload, link=message.link,
                                         image=message.image, image_alt=message.image_alt, part=message.part)
                    write_atomically(path, (json.dumps(record, ensure_ascii=False, indent=2) + "\n").encode())
                    outcomes.append(Sent(f"outbox:{self.kind}/{path.name}"))
                else:  # a caller's bug: said as such, also under python -O
                    raise TypeError(f"outbox: cannot write {type(message).__name__}")
            except OSError as exc:
                outcomes.append(Failed(f"cannot write {exc.filename}: {exc.strerror}", transient=True))
        return outcomes

    def _path(self, message: Outgoing) -> Path:
        if isinstance(message, OutgoingMail):
            return self.folder / f"{message.key}.eml"
        # Part 1 keeps the name every post has; part N of a reply thread is <item>.part<N>.json beside it.
        return self.folder / post_file(message.item, message.part, message.lang)

    def reconcile(self, message: Outgoing) -> Outcome | None:
        path = self._path(message)
        if not path.exists():
            return None
        return Sent(message.message_id if isinstance(message, OutgoingMail) else f"outbox:{self.kind}/{path.name}")

    def check(self) -> str:
        self._ready()
        return f"writes to {self.folder}"

    def close(self) -> None:
        pass


@register(EVERY_KIND, "outbox")
def open_outbox(settings: Settings, kind: str) -> Outbox:
    return Outbox(settings, kind)
