"""The sans-I/O IMAP command reader (RFC 9051 §2.2, §4; RFC 7888 literals), tested with bytes."""

from hypothesis import given, settings, strategies as st

from postroom.imap.wire import (Atom, Command, CommandReader, Continue, Error, Line, String,
                                NEED_DATA, astring)


def events(reader: CommandReader, data: bytes) -> list:
    reader.receive_data(data)
    out = []
    while (ev := reader.next_event()) is not NEED_DATA:
        out.append(ev)
    return out


def test_simple_command_with_quoted_string_and_list():
    r = CommandReader()
    [cmd] = events(r, b'a1 STORE 1:3,5 +FLAGS.SILENT (\\Seen $Junk "x y")\r\n')
    assert cmd == Command("a1", "STORE", ["1:3,5", "+FLAGS.SILENT", ["\\Seen", "$Junk", b"x y"]])
    assert isinstance(cmd.args[2][2], String) and not isinstance(cmd.args[2][2], Atom)


def test_uid_prefix_joins_the_command_name():
    [cmd] = events(CommandReader(), b"7 uid fetch 1:* (FLAGS)\r\n")
    assert cmd.name == "UID FETCH" and cmd.args == ["1:*", ["FLAGS"]]


def test_synchronizing_literal_asks_for_continuation_first():
    r = CommandReader()
    assert events(r, b"a LOGIN {4}\r\n") == [Continue(4)]
    assert events(r, b"us") == []
    [cmd] = events(r, b"er pw\r\n")
    assert cmd.args == [b"user", "pw"] and cmd.args[0].literal


def test_non_synchronizing_literals_and_pipelining():
    r = CommandReader()
    evs = events(r, b"a LOGIN {4+}\r\nuser {2+}\r\npw\r\nb NOOP\r\nc LOGOUT\r\n")
    assert [e.name for e in evs] == ["LOGIN", "NOOP", "LOGOUT"]
    assert evs[0].args == [b"user", b"pw"]


def test_literal8_and_zero_length_literal():
    [cmd] = events(CommandReader(), b"a APPEND X ~{3+}\r\n\x00\x01\x02 {0+}\r\n\r\n")
    assert cmd.args[1] == b"\x00\x01\x02" and cmd.args[1].binary
    assert cmd.args[2] == b""


def test_fetch_section_with_spaces_is_one_atom():
    [cmd] = events(CommandReader(),
                   b'a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From "To")]<0.10> UID)\r\n')
    assert cmd.args[1] == ['BODY.PEEK[HEADER.FIELDS (From "To")]<0.10>', "UID"]


def test_literal_marker_inside_quotes_is_text():
    [cmd] = events(CommandReader(), b'a LOGIN "u{3}" "p"\r\n')
    assert cmd.args == [b"u{3}", b"p"]


def test_too_big_synchronizing_literal_is_refused_and_stream_continues():
    r = CommandReader(max_literal_size=10)
    [err] = events(r, b"a APPEND INBOX {11}\r\n")
    assert (err.tag, err.kind, err.code, err.fatal) == ("a", "NO", "TOOBIG", False)
    [cmd] = events(r, b"b NOOP\r\n")
    assert cmd.name == "NOOP"


def test_too_big_non_synchronizing_literal_is_fatal():
    [err] = events(CommandReader(max_literal_size=10), b"a APPEND INBOX {11+}\r\n")
    assert err.code == "TOOBIG" and err.fatal


def test_too_long_line_is_fatal_with_tag():
    [err] = events(CommandReader(max_line_length=20), b"abc NOOP " + b"x" * 40 + b"\r\n")
    assert err.tag == "abc" and err.code == "TOOBIG" and err.fatal


def test_syntax_errors_are_bad_with_tag_and_the_reader_goes_on():
    r = CommandReader()
    evs = events(r, b'a1 LOGIN "unterminated\r\n(bad\r\na2 FETCH 1 (FLAGS\r\na3 NOOP\r\n')
    assert [(e.tag, e.kind) for e in evs[:3]] == [("a1", "BAD"), (None, "BAD"), ("a2", "BAD")]
    assert evs[3].name == "NOOP"


def test_line_mode_returns_raw_lines():
    r = CommandReader()
    r.line_mode = True
    assert events(r, b"dXNlcg==\r\nDONE\r\n") == [Line(b"dXNlcg=="), Line(b"DONE")]


def test_astring_encoding():
    assert astring("INBOX") == b'"INBOX"'
    assert astring('a"b') == b'"a\\"b"'
    assert astring("Entwürfe") == b"{9}\r\nEntw\xc3\xbcrfe"
    assert astring("Entwürfe", utf8=True) == '"Entwürfe"'.encode()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"a ", b"{3}\r\n", b"{2+}\r\n", b"~{1-}\r\n", b"(", b")", b'"', b"\\",
                     b"\r\n", b"[", b"]", b" ", b"FETCH 1 BODY[", b"{99999999999}\r\n"])),
    max_size=30), st.integers(min_value=1, max_value=17))
def test_reader_never_crashes_on_arbitrary_bytes(chunks, split):
    r = CommandReader(max_line_length=200, max_literal_size=1000)
    data = b"".join(chunks)
    for i in range(0, len(data), split):
        r.receive_data(data[i:i + split])
        for _ in range(1000):
            ev = r.next_event()
            if ev is NEED_DATA:
                break
            assert isinstance(ev, (Command, Continue, Error, Line))
        else:
            raise AssertionError("reader made no progress")


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.one_of(st.from_regex(r"[A-Za-z0-9.:*,\\$]{1,8}", fullmatch=True),
                              st.binary(max_size=12)),
                    lambda inner: st.lists(inner, max_size=4), max_leaves=12))
def test_tokenizer_round_trips_what_a_client_would_send(value):
    def enc(v):
        if isinstance(v, list):
            return b"(" + b" ".join(enc(x) for x in v) + b")"
        if isinstance(v, str):
            return v.encode()
        return b"{%d+}\r\n" % len(v) + v
    [cmd] = events(CommandReader(), b"t X " + enc(value) + b"\r\n")
    def norm(v):
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v if isinstance(v, (bytes, str)) else v
    assert cmd.args == [norm(value)]
