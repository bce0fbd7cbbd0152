"""Mailgun: dispatch hands each batch of up to 1,000 newsletter messages to Mailgun's batch sending in one call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import quote

from ..errors import FinalChannelError
from ..mail import PreparedEdition, header_address
from ..settings import Settings
from . import OutgoingMail, register
from .http import call, json_body
from .mailapi import MailApi, with_token_tag

WHAT = "Mailgun"
# Recipient variables, as Mailgun fills them into each recipient's copy.
TOKEN = "%recipient.token%"
UNSUBSCRIBE = "%recipient.unsubscribe%"
MESSAGE_ID = "%recipient.message_id%"

Fields = list[tuple[str, str]]


class Mailgun(MailApi[tuple[Fields, Fields]]):
    name = "mailgun"

    def __init__(self, settings: Settings, kind: str) -> None:
        super().__init__(settings, kind)
        self.domain = settings.mailgun_domain
        self.base_url = settings.mailgun_base_url

    def _auth(self) -> tuple[str, str]:
        return ("api", self.settings.mailgun_api_key.reveal())

    def _shared(self, edition: PreparedEdition) -> tuple[Fields, Fields]:
        """(fields before the `to` list, fields after it): the edition's parts, once for all its batches."""
        text, html = with_token_tag(edition, TOKEN)
        head = [("from", header_address(edition.sender_address, edition.sender_name)),
                ("subject", edition.newsletter.subject)]
        tail = [("text", text)]
        if html:
            tail.append(("html", html))
        if edition.list_unsubscribe:  # not for notices (alerts, confirmation links): they are not list mail
            tail += [("h:List-Unsubscribe", f"<{UNSUBSCRIBE}>"),
                     ("h:List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
        # Herald's own Message-ID, the same on a resend, so receivers can drop a duplicate.
        tail.append(("h:Message-Id", MESSAGE_ID))
        return head, tail

    def _post(self, shared: tuple[Fields, Fields], edition: PreparedEdition,
              messages: Sequence[OutgoingMail]) -> str:
        head, tail = shared
        listed = edition.list_unsubscribe
        # Without recipient-variables Mailgun sends one message showing every address to everyone: always send them.
        variables = {m.address: {"token": m.token, "message_id": m.message_id,
                                 **({"unsubscribe": edition.unsubscribe_url(m.token)} if listed else {})}
                     for m in messages}
        fields = head + [("to", header_address(m.address, m.name)) for m in messages] + tail
        fields.append(("recipient-variables", json.dumps(variables)))
        response = call(self.session, "POST", f"{self.base_url}/v3/{quote(self.domain, safe='')}/messages", WHAT,
                        self.settings, auth=self._auth(),
                        files=[(name, (None, value)) for name, value in fields])  # multipart/form-data, as documented
        answer = json_body(response, WHAT)
        remote_id = answer.get("id") if isinstance(answer, dict) else None
        # Accepted without an id (not documented): record that, rather than send the batch again.
        return str(remote_id) if remote_id else f"mailgun:accepted:{messages[0].key}"

    def check(self) -> str:
        response = call(self.session, "GET", f"{self.base_url}/v4/domains/{quote(self.domain, safe='')}", WHAT,
                        self.settings, auth=self._auth())
        answer = json_body(response, WHAT)
        domain = (answer.get("domain") if isinstance(answer, dict) else None) or {}
        state = str(domain.get("state") or "unknown")
        name = domain.get("name") or self.domain
        if state != "active":
            raise FinalChannelError(f"{WHAT}: domain {name} is {state}: it cannot send until its DNS records are "
                                    "verified (Mailgun > Sending > Domains)")
        return f"domain {name} is {state}"


@register("email", "mailgun")
def open_mailgun(settings: Settings, kind: str) -> Mailgun:
    return Mailgun(settings, kind)
