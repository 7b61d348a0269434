"""Fuzzing the parsers that no door-specific suite covers: iCalendar/vCard items, DAV XML,
the config file, address lists and mbox files. Each may refuse its input only with its own
error type; nothing else may escape (bounded hypothesis runs, a few seconds in CI)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from postroom import config, transfer
from postroom.dav import xmlutil
from postroom.mail.address import parse_address_list
from postroom.pim.model import InvalidData, index_text

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:f-1\r\n"
         "DTSTAMP:20300101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20300105T100000\r\n"
         "DTEND;TZID=Europe/Berlin:20300105T110000\r\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=9\r\n"
         "EXDATE;TZID=Europe/Berlin:20300107T100000\r\nSUMMARY:Fuzz\r\n"
         "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.test\r\nEND:VEVENT\r\n"
         "END:VCALENDAR\r\n")
CARD = ("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:c-1\r\nFN:Jane Doe\r\nN:Doe;Jane;;;\r\n"
        "EMAIL;TYPE=work:jane@example.test\r\nTEL:+1 555 0100\r\nEND:VCARD\r\n")


def mutations(base: str):
    """Valid text with a slice cut out, doubled or replaced: the inputs real bugs hide in."""
    return st.tuples(st.integers(0, len(base)), st.integers(0, 40),
                     st.text(max_size=30)).map(
        lambda t: base[:t[0]] + t[2] + base[t[0] + t[1]:])


@FAST
@given(st.one_of(st.text(max_size=300), mutations(EVENT), mutations(CARD)),
       st.sampled_from(["calendar", "tasks", "addressbook"]))
def test_calendar_and_vcard_items_are_indexed_or_refused_as_invalid(text, kind):
    try:
        index_text(text, kind, default_uid="fallback")
    except InvalidData:
        pass


@FAST
@given(st.one_of(st.binary(max_size=300),
                 mutations('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
                           '<D:getetag/></D:prop></D:propfind>').map(str.encode)))
def test_dav_xml_bodies_parse_or_are_refused(body):
    try:
        xmlutil.parse(body)
    except xmlutil.BadXML:
        pass


toml_values = st.recursive(
    st.one_of(st.booleans(), st.integers(-2**40, 2**40), st.text(max_size=10)),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=8)


@FAST
@given(st.dictionaries(st.sampled_from(["server", "imap", "pop3", "smtp", "tls", "auth", "store",
                                        "http", "eas", "nope"]),
                       st.dictionaries(st.sampled_from(["port", "enabled", "routes", "bind",
                                                        "delete_policy", "workers", "x"]),
                                       toml_values, max_size=4), max_size=4))
def test_config_tables_load_or_name_the_wrong_key(data):
    try:
        config.from_dict(data)
    except config.ConfigError as e:
        assert str(e)


@FAST
@given(st.one_of(st.text(max_size=200),
                 mutations('"Doe, Jane" <jane@example.test>, team: a@b.test, c@d.test;, '
                           '=?utf-8?q?J=C3=BCrgen?= <j@x.test>')))
def test_address_lists_never_raise(value):
    for a in parse_address_list(value):
        assert a.mailbox is None or isinstance(a.mailbox, str)


@FAST
@given(st.binary(max_size=600).map(lambda b: b"From a@b Thu Jan  1 00:00:00 2026\n" + b
                                   if b[:1] == b"\x00" else b))
def test_any_mbox_file_is_read_or_refused_with_a_reason(data):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "box.mbox"
        path.write_bytes(data)
        try:
            for item in transfer.read_mbox(path, max_size=1 << 20):
                assert isinstance(item, (transfer.SourceMessage, transfer.Skipped))
        except transfer.TransferError:
            pass
