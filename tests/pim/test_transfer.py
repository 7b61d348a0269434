"""``postroom calendar|contacts import|export``: what an operator runs to move a user's
calendar and contacts in and out."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from postroom.cli import cli

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//other//EN
BEGIN:VTIMEZONE
TZID:Europe/Paris
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:one
DTSTAMP:20240101T000000Z
DTSTART;TZID=Europe/Paris:20240301T100000
DTEND;TZID=Europe/Paris:20240301T110000
SUMMARY:First
END:VEVENT
BEGIN:VEVENT
UID:two
DTSTAMP:20240101T000000Z
DTSTART:20240302T100000Z
RRULE:FREQ=WEEKLY;COUNT=4
SUMMARY:Second
END:VEVENT
BEGIN:VEVENT
UID:two
DTSTAMP:20240101T000000Z
RECURRENCE-ID:20240309T100000Z
DTSTART:20240309T120000Z
SUMMARY:Second (moved)
END:VEVENT
BEGIN:VTODO
UID:task
DTSTAMP:20240101T000000Z
SUMMARY:A task
END:VTODO
BEGIN:VEVENT
SUMMARY:no uid and no dates is still a valid event
UID:three
DTSTAMP:20240101T000000Z
DTSTART:20240301T100000Z
DTEND:BROKEN
END:VEVENT
END:VCALENDAR
"""

VCF = """BEGIN:VCARD
VERSION:3.0
UID:a
FN:Ann
EMAIL:ann@example.org
END:VCARD
BEGIN:VCARD
VERSION:4.0
UID:b
FN:Ben
END:VCARD
BEGIN:VCARD
VERSION:3.0
END:VCARD
"""


@pytest.fixture
def run(tmp_path: Path):
    data = str(tmp_path / "data")

    def invoke(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(cli, [*args, "--data", data])
        assert "Traceback" not in result.output
        assert result.exit_code == code, (result.output, result.exception)
        return result.output

    invoke("domain", "add", "example.test")
    invoke("user", "add", "ann@example.test", "--password", "secret-pw-1")
    return invoke


def test_calendar_import_splits_by_uid_and_export_round_trips(run, tmp_path):
    src = tmp_path / "in.ics"
    src.write_text(ICS)
    out = run("calendar", "import", "ann@example.test", str(src), code=1)
    assert "Imported 3 item(s)" in out and "skipped" in out
    out = run("calendar", "import", "ann@example.test", str(src), code=1)
    assert "(3 replaced)" in out
    dest = tmp_path / "out.ics"
    out = run("calendar", "export", "ann@example.test", str(dest))
    assert "Exported 3 item(s)" in out
    text = dest.read_text()
    assert text.count("BEGIN:VEVENT") == 3 and "BEGIN:VTODO" in text
    assert text.count("BEGIN:VTIMEZONE") == 1 and "Second (moved)" in text


def test_contacts_import_and_export(run, tmp_path):
    src = tmp_path / "in.vcf"
    src.write_text(VCF)
    out = run("contacts", "import", "ann@example.test", str(src), code=1)
    assert "Imported 2 item(s)" in out
    dest = tmp_path / "out.vcf"
    run("contacts", "export", "ann@example.test", str(dest))
    assert dest.read_text().count("BEGIN:VCARD") == 2


def test_unknown_user_is_a_one_line_error(run, tmp_path):
    src = tmp_path / "in.vcf"
    src.write_text(VCF)
    out = run("contacts", "import", "nobody@example.test", str(src), code=1)
    assert "no such user" in out
