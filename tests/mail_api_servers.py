"""Local servers speaking Mailgun's and SendGrid's sending APIs as documented: they check and keep each request.

Each server answers like the provider: the documented success, 401 for a wrong key, 400 with the provider's
own wording for a request it would refuse. Anything wrong with a request's shape is also kept in `problems`,
so a test can say "no problem at all" rather than trust a status code. `answer_next` scripts the provider's
next answer (a 429, a 500, a 400) after the request has been checked.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from bot.ledger import Ledger
from bot.settings import Settings


@contextmanager
def local_server() -> Iterator[HTTPServer]:
    """A real HTTP server on 127.0.0.1 at a free port."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@dataclass
class Answer:
    status: int
    body: Any = None  # a dict or list is sent as JSON, a str as text
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        if isinstance(self.body, (dict, list)):
            return Response(json.dumps(self.body), self.status, self.headers, content_type="application/json")
        return Response(self.body or "", self.status, self.headers, content_type="text/plain")


class ProviderApi:
    """What both fakes share: the server, scripted answers, and the problems found in requests."""

    def __init__(self, server: HTTPServer, key: str) -> None:
        server.clear()
        self.server = server
        self.key = key
        self.problems: list[str] = []
        self.scripted: list[Answer] = []
        self.refused = 0  # requests answered 401

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def answer_next(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.scripted.append(Answer(status, body, headers or {}))

    def _next(self) -> Answer | None:
        return self.scripted.pop(0) if self.scripted else None

    def _problem(self, text: str) -> None:
        self.problems.append(text)


# --- Mailgun: POST /v3/{domain}/messages (multipart form, basic auth api:KEY), GET /v4/domains/{name} ----------

MAILGUN_VARIABLE = re.compile(r"%recipient\.([A-Za-z0-9_]+)%")
MAILGUN_SINGLE = ("from", "subject", "text", "html", "recipient-variables")


@dataclass
class MailgunCall:
    """One accepted or refused call to /messages, as the server understood it."""

    fields: dict[str, list[str]]
    to: list[str]  # plain addresses, in order
    variables: dict[str, dict[str, Any]]
    status: int
    id: str | None

    def value(self, name: str) -> str:
        values = self.fields.get(name, [])
        assert len(values) == 1, f"{name}: {len(values)} values"
        return values[0]

    def render(self, address: str) -> dict[str, str]:
        """Subject, text, html and h: headers as Mailgun writes them for one recipient."""
        variables = self.variables[address]
        return {name: MAILGUN_VARIABLE.sub(lambda m: str(variables[m.group(1)]), values[0])
                for name, values in self.fields.items()
                if name in ("subject", "text", "html") or name.startswith("h:")}


class MailgunApi(ProviderApi):
    def __init__(self, server: HTTPServer, key: str, domain: str, state: str = "active") -> None:
        super().__init__(server, key)
        self.domain = domain
        self.state = state
        self.calls: list[MailgunCall] = []
        server.expect_request(f"/v3/{domain}/messages", method="POST").respond_with_handler(self._messages)
        server.expect_request(re.compile(r"^/v4/domains/[^/]+$"), method="GET").respond_with_handler(self._domain)

    @property
    def accepted(self) -> list[MailgunCall]:
        return [c for c in self.calls if c.status == 200]

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            self._problem(f"{request.path}: no basic Authorization header")
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        if user != "api":
            self._problem(f"{request.path}: basic auth user is {user!r}, Mailgun's is 'api'")
        return user == "api" and password == self.key

    def _messages(self, request: Request) -> Response:
        if not self._authorized(request):
            self.refused += 1
            return Answer(401, "Forbidden").response()  # Mailgun's answer to a wrong key, as text
        if request.mimetype != "multipart/form-data":
            self._problem(f"/messages: Content-Type {request.mimetype!r}, not multipart/form-data")
        # A batch of 1,000 has more parts than werkzeug parses by default.
        request.max_form_parts = 10_000
        request.max_form_memory_size = 10_000_000
        fields = {name: request.form.getlist(name) for name in request.form}
        problems = self._check_message(fields)
        for problem in problems:
            self._problem(problem)
        to = [address for _, address in getaddresses(fields.get("to", []))]
        try:
            variables = json.loads(fields.get("recipient-variables", ["{}"])[0])
        except ValueError:
            variables = {}
        answer = Answer(400, {"message": problems[0]}) if problems else self._next()
        if answer is None:
            answer = Answer(200, {"id": f"<{datetime.now(UTC):%Y%m%d%H%M%S}.{secrets.token_hex(8)}"
                                        f"@{self.domain}>", "message": "Queued. Thank you."})
        remote_id = answer.body.get("id") if isinstance(answer.body, dict) else None
        self.calls.append(MailgunCall(fields, to, variables, answer.status, remote_id))
        return answer.response()

    def _check_message(self, fields: dict[str, list[str]]) -> list[str]:
        """What Mailgun's documentation requires of a batch send, as problems in Mailgun's own wording."""
        problems = []
        for name in MAILGUN_SINGLE:
            if len(fields.get(name, [])) > 1:
                problems.append(f"'{name}' parameter is given {len(fields[name])} times")
        for name in ("from", "subject"):
            if not fields.get(name):
                problems.append(f"'{name}' parameter is missing")
        if not (fields.get("text") or fields.get("html")):
            problems.append("Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified")
        to = fields.get("to", [])
        if not to:
            problems.append("'to' parameter is missing")
        if len(to) > 1000:
            problems.append("Too many recipients: the maximum number of recipients allowed for batch is 1,000")
        addresses = []
        for raw in to:
            parsed = getaddresses([raw])
            if len(parsed) != 1 or "@" not in parsed[0][1]:
                problems.append(f"'to' parameter is not a valid address: {raw!r}")
            else:
                addresses.append(parsed[0][1])
                try:
                    str(make_header(decode_header(parsed[0][0])))
                except (ValueError, LookupError):
                    problems.append(f"'to' parameter has a name that does not decode: {raw!r}")
        if len(set(addresses)) != len(addresses):
            problems.append("'to' holds the same address twice")
        if len(fields.get("from", [])) == 1 and "@" not in getaddresses(fields["from"])[0][1]:
            problems.append("'from' parameter is not a valid address")
        options = sum(len(n) + len(v.encode()) for n, vs in fields.items() if n[:2] in ("o:", "h:", "v:", "t:")
                      for v in vs)
        if options > 16 * 1024:
            problems.append("Send options (parameters starting with o:, h:, v:, or t:) are limited to 16KB total")
        if len(to) > 1 and "recipient-variables" not in fields:
            problems.append("batch sending without recipient-variables: every recipient would see every address")
        try:
            variables = json.loads(fields.get("recipient-variables", ["{}"])[0])
        except ValueError:
            return problems + ["'recipient-variables' parameter is not valid JSON"]
        if not isinstance(variables, dict) or not all(isinstance(v, dict) for v in variables.values()):
            return problems + ["'recipient-variables' must be an object of objects keyed by address"]
        if "recipient-variables" in fields and set(variables) != set(addresses):
            problems.append("'recipient-variables' keys are not exactly the 'to' addresses")
        used = {m.group(1) for name, values in fields.items()
                if name in ("subject", "text", "html") or name.startswith("h:")
                for value in values for m in MAILGUN_VARIABLE.finditer(value)}
        for address, values in variables.items():
            missing = used - set(values)
            if missing:
                problems.append(f"recipient {address} has no variable {sorted(missing)[0]}")
                break
        return problems

    def _domain(self, request: Request) -> Response:
        if not self._authorized(request):
            self.refused += 1
            return Answer(401, "Forbidden").response()
        name = request.path.rsplit("/", 1)[1]
        if name != self.domain:
            return Answer(404, {"message": "Domain not found"}).response()
        scripted = self._next()
        if scripted is not None:
            return scripted.response()
        return Answer(200, {
            "domain": {"name": self.domain, "state": self.state, "type": "custom", "spam_action": "disabled",
                       "created_at": "Fri, 05 Jul 2019 09:00:00 GMT", "web_scheme": "https"},
            "receiving_dns_records": [], "sending_dns_records": [],
        }).response()


# --- SendGrid: POST /v3/mail/send (JSON, Bearer KEY), GET /v3/scopes -----------------------------------------

SENDGRID_TOP = {"personalizations", "from", "reply_to", "reply_to_list", "subject", "content", "attachments",
                "template_id", "headers", "categories", "custom_args", "send_at", "batch_id", "asm", "ip_pool_name",
                "mail_settings", "tracking_settings"}
SENDGRID_PERSONALIZATION = {"to", "cc", "bcc", "from", "subject", "headers", "substitutions",
                            "dynamic_template_data", "custom_args", "send_at"}
# Headers a personalization may not set (SendGrid's Mail Send reference).
SENDGRID_RESERVED = {"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
                     "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"}
SENDGRID_UNAUTHORIZED = {"errors": [{"field": None, "help": None,
                                     "message": "The provided authorization grant is invalid, expired, or revoked"}]}


def sendgrid_error(message: str, field_name: str | None = None) -> dict[str, Any]:
    return {"errors": [{"message": message, "field": field_name, "help": None}]}


@dataclass
class SendGridCall:
    body: dict[str, Any]
    status: int
    message_id: str | None

    @property
    def recipients(self) -> list[str]:
        return [to["email"] for p in self.body.get("personalizations", []) for to in p.get("to", [])]

    def personalization(self, email: str) -> dict[str, Any]:
        return next(p for p in self.body["personalizations"] if p["to"][0]["email"] == email)

    def render(self, email: str) -> dict[str, str]:
        """Subject and each content type as SendGrid writes them for one recipient."""
        substitutions = self.personalization(email).get("substitutions", {})

        def fill(text: str) -> str:
            for tag, value in substitutions.items():
                text = text.replace(tag, value)
            return text

        return {"subject": fill(self.body["subject"]), **{c["type"]: fill(c["value"]) for c in self.body["content"]}}


class SendGridApi(ProviderApi):
    def __init__(self, server: HTTPServer, key: str, scopes: tuple[str, ...] = ("mail.send", "user.profile.read")
                 ) -> None:
        super().__init__(server, key)
        self.scopes = list(scopes)
        self.calls: list[SendGridCall] = []
        server.expect_request("/v3/mail/send", method="POST").respond_with_handler(self._send)
        server.expect_request("/v3/scopes", method="GET").respond_with_handler(self._scopes)

    @property
    def accepted(self) -> list[SendGridCall]:
        return [c for c in self.calls if c.status == 202]

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            self._problem(f"{request.path}: no Bearer Authorization header")
        return header == f"Bearer {self.key}"

    def _send(self, request: Request) -> Response:
        if not self._authorized(request):
            self.refused += 1
            return Answer(401, SENDGRID_UNAUTHORIZED).response()
        if request.mimetype != "application/json":
            self._problem(f"/v3/mail/send: Content-Type {request.mimetype!r}, not application/json")
        try:
            body = json.loads(request.get_data())
        except ValueError:
            body = None
        problems = self._check_mail(body) if isinstance(body, dict) else ["The request body is not a JSON object"]
        for problem in problems:
            self._problem(problem)
        answer = Answer(400, sendgrid_error(problems[0])) if problems else self._next()
        if answer is None:
            answer = Answer(202, "", {"X-Message-Id": secrets.token_urlsafe(16)})
        self.calls.append(SendGridCall(body if isinstance(body, dict) else {}, answer.status,
                                       answer.headers.get("X-Message-Id")))
        return answer.response()

    def _check_mail(self, body: dict[str, Any]) -> list[str]:
        """What SendGrid's v3 Mail Send reference and its error list require, in SendGrid's own wording."""
        problems = [f"unknown field {k!r}" for k in body if k not in SENDGRID_TOP]
        personalizations = body.get("personalizations")
        if not isinstance(personalizations, list) or not personalizations:
            return problems + ["You must have at least one personalization."]
        if len(personalizations) > 1000:
            problems.append("The personalization block is limited to 1000 personalizations per API request.")
        emails: list[str] = []
        for n, p in enumerate(personalizations):
            where = f"personalizations.{n}"
            if not isinstance(p, dict):
                problems.append(f"{where} is not an object")
                continue
            problems += [f"{where}: unknown field {k!r}" for k in p if k not in SENDGRID_PERSONALIZATION]
            to = p.get("to")
            if not isinstance(to, list) or not to:
                problems.append(f"The to parameter is required for all personalization objects ({where}).")
                continue
            for recipient in to:
                if not (isinstance(recipient, dict) and isinstance(recipient.get("email"), str)
                        and "@" in recipient["email"] and set(recipient) <= {"email", "name"}
                        and isinstance(recipient.get("name", ""), str)):
                    problems.append(f"Each to object must at least have an email address and may also contain a "
                                    f"name ({where}).")
                else:
                    emails.append(recipient["email"].lower())
            for name in ("headers", "substitutions", "custom_args"):
                value = p.get(name, {})
                if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                          for k, v in value.items()):
                    problems.append(f"{where}.{name} must be an object of strings")
            reserved = [h for h in p.get("headers", {}) if str(h).lower() in SENDGRID_RESERVED]
            if reserved:
                problems.append(f"{where}.headers may not set {reserved[0]}")
        if len(emails) > 1000:
            problems.append("There is a limit of 1000 total recipients (to + cc + bcc) per request.")
        if len(set(emails)) != len(emails):
            problems.append("Each unique email address in the personalizations array should only be included once.")
        sender = body.get("from")
        if not (isinstance(sender, dict) and isinstance(sender.get("email"), str) and "@" in sender["email"]
                and set(sender) <= {"email", "name"}):
            problems.append("The from object must be provided for every email send. It is an object that requires "
                            "the email parameter, but may also contain a name parameter.")
        if not isinstance(body.get("subject"), str) or not body["subject"]:
            problems.append("The subject is required. You can get around this requirement if you use a template.")
        content = body.get("content")
        if not isinstance(content, list) or not content:
            return problems + ["Unless a valid template_id is provided, the content parameter is required."]
        types = []
        for part in content:
            if not (isinstance(part, dict) and isinstance(part.get("type"), str) and isinstance(part.get("value"), str)
                    and part["value"]):
                problems.append("The content value must be a string at least one character in length.")
            else:
                types.append(part["type"])
        if "text/html" in types and "text/plain" in types and types.index("text/html") < types.index("text/plain"):
            problems.append("If present, text/plain and text/html may only be provided in this order, before any "
                            "other content.")
        return problems

    def _scopes(self, request: Request) -> Response:
        if not self._authorized(request):
            self.refused += 1
            return Answer(401, SENDGRID_UNAUTHORIZED).response()
        return (self._next() or Answer(200, {"scopes": self.scopes})).response()


# --- helpers for the tests that use these servers -------------------------------------------------------------


def add_subscribers(settings: Settings, count: int) -> dict[str, int]:
    """`count` active subscribers in one transaction (every seventh with a non-ASCII name): address -> id."""
    stamp = "2019-01-01T00:00:00Z"
    rows = [(f"reader{n:05d}@example.net", "Zoë Müller-Nyström" if n % 7 == 0 else "", "test", stamp, stamp)
            for n in range(count)]
    with Ledger.open(settings.state_dir) as ledger:
        with ledger.transaction():
            ledger.db.executemany("INSERT INTO subscribers (email, name, source, created_at, updated_at) "
                                  "VALUES (?, ?, ?, ?, ?)", rows)
        return {row["email"]: row["id"] for row in ledger.db.execute("SELECT id, email FROM subscribers")}


def state_bytes(settings: Settings) -> bytes:
    """Every byte Herald keeps in its state folder (the ledger, its WAL, the outbox), to search for secrets."""
    return b"".join(p.read_bytes() for p in sorted(Path(settings.state_dir).rglob("*")) if p.is_file())


def email_deliveries(settings: Settings) -> list[Any]:
    with Ledger.open(settings.state_dir) as ledger:
        return list(ledger.deliveries("channel = 'email'"))


def assert_key_nowhere(key: str, settings: Settings, report: object, log_text: str) -> None:
    """The API key is in no report, no log line and no byte of the state folder."""
    assert key not in repr(report)
    assert key not in log_text
    assert key.encode() not in state_bytes(settings)
