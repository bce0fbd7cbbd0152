"""SendGrid: dispatch hands each batch of up to 1,000 newsletter messages to SendGrid's v3 Mail Send in one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import FinalChannelError
from ..mail import TOKEN_PLACEHOLDER, PreparedEdition
from ..settings import Settings
from . import OutgoingMail, register
from .http import call, json_body
from .mailapi import MailApi

WHAT = "SendGrid"
SEND_SCOPE = "mail.send"

Body = dict[str, Any]


def _address(email: str, name: str) -> dict[str, str]:
    # `name` is optional in SendGrid's schema: left out rather than sent empty.
    return {"email": email, "name": name} if name else {"email": email}


class SendGrid(MailApi[Body]):
    name = "sendgrid"

    def __init__(self, settings: Settings, kind: str) -> None:
        super().__init__(settings, kind)
        self.base_url = settings.sendgrid_base_url

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.sendgrid_api_key.reveal()}"}

    def _shared(self, edition: PreparedEdition) -> Body:
        # The token placeholder itself is the substitution tag, replaced in the content per personalization.
        text, html = edition.newsletter.text, edition.newsletter.html
        content = [{"type": "text/plain", "value": text}]  # SendGrid requires text/plain before text/html
        if html:
            content.append({"type": "text/html", "value": html})
        return {"from": _address(edition.sender_address, edition.sender_name), "subject": edition.newsletter.subject,
                "content": content}

    def _personalization(self, edition: PreparedEdition, message: OutgoingMail, listed: bool) -> Body:
        personalization: Body = {"to": [_address(message.address, message.name)],
                                 "custom_args": {"herald_key": message.key}}
        if listed:
            # Substitutions reach the content only, not headers: each header carries the whole URL.
            personalization["headers"] = {"List-Unsubscribe": f"<{edition.unsubscribe_url(message.token)}>",
                                          "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
            personalization["substitutions"] = {TOKEN_PLACEHOLDER: message.token}
        return personalization

    def _post(self, shared: Body, edition: PreparedEdition, messages: Sequence[OutgoingMail]) -> str:
        listed = edition.list_unsubscribe
        body = {"personalizations": [self._personalization(edition, m, listed) for m in messages], **shared}
        response = call(self.session, "POST", f"{self.base_url}/v3/mail/send", WHAT, self.settings,
                        headers=self._headers(), json=body)
        # 202 Accepted (200 in sandbox mode): the id of the request is in a header, the body is empty.
        return response.headers.get("X-Message-Id") or f"sendgrid:accepted:{messages[0].key}"

    def check(self) -> str:
        response = call(self.session, "GET", f"{self.base_url}/v3/scopes", WHAT, self.settings,
                        headers=self._headers())
        answer = json_body(response, WHAT)
        scopes = answer.get("scopes") if isinstance(answer, dict) else None
        if not isinstance(scopes, list) or SEND_SCOPE not in scopes:
            raise FinalChannelError(f"{WHAT}: the API key lacks the {SEND_SCOPE} permission: give it Mail Send "
                                    "access (Settings > API Keys > Edit API Key > Mail Send)")
        return f"the API key may send mail ({SEND_SCOPE}, {len(scopes)} scopes in all)"


@register("email", "sendgrid")
def open_sendgrid(settings: Settings, kind: str) -> SendGrid:
    return SendGrid(settings, kind)
