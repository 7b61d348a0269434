"""The POP3 dialogue with byte strings only: states, replies, response codes, the wire form of
messages, and a bounded fuzz that no input makes the session raise."""

from __future__ import annotations

import base64

from hypothesis import given, settings, strategies as st

from postroom.pop3.protocol import (COMMANDS, Authenticate, LineBuffer, LineTooLong, Login,
                                    Maildrop, Reply, Retrieve, Security,
                                    Session, StartTLS, State, Update, wire_message)

SECURE = Security(tls=False, plaintext_allowed=True,
                  mechanisms=["PLAIN", "LOGIN", "SCRAM-SHA-256"], stls_available=True)
INSECURE = Security(tls=False, plaintext_allowed=False, mechanisms=["SCRAM-SHA-256"],
                    stls_available=True)


def drop(*sizes: int, uidvalidity: int = 0x1234) -> Maildrop:
    return Maildrop(uidvalidity, list(range(10, 10 + len(sizes))), list(sizes))


def logged_in(*sizes: int) -> Session:
    s = Session(SECURE)
    assert s.receive(b"USER alice@example.test\r\n").data.startswith(b"+OK")
    assert isinstance(s.receive(b"PASS secret\r\n"), Login)
    s.logged_in(drop(*sizes))
    return s


def data(effect) -> bytes:
    assert isinstance(effect, Reply), effect
    return effect.data


# --- AUTHORIZATION ------------------------------------------------------------------------------

def test_greeting_is_ok():
    assert Session(SECURE).greeting().data.startswith(b"+OK ")


def test_user_then_pass_asks_for_a_login_with_spaces_kept_in_the_password():
    s = Session(SECURE)
    s.receive(b"USER alice@example.test\r\n")
    effect = s.receive(b"PASS two words \r\n")
    assert effect == Login("alice@example.test", "two words ")


def test_pass_without_user_is_refused():
    assert data(Session(SECURE).receive(b"PASS x\r\n")).startswith(b"-ERR")


def test_user_pass_refused_with_auth_code_when_connection_is_insecure():
    s = Session(INSECURE)
    assert data(s.receive(b"USER alice\r\n")).startswith(b"-ERR [AUTH] ")


def test_capa_lists_user_sasl_and_stls_before_login():
    reply = data(Session(SECURE).receive(b"CAPA\r\n"))
    lines = reply.split(b"\r\n")
    assert lines[0].startswith(b"+OK")
    assert reply.endswith(b"\r\n.\r\n")
    for cap in (b"TOP", b"UIDL", b"USER", b"RESP-CODES", b"AUTH-RESP-CODE", b"PIPELINING",
                b"EXPIRE NEVER", b"STLS", b"SASL PLAIN LOGIN SCRAM-SHA-256", b"UTF8 USER"):
        assert cap in lines
    assert any(line.startswith(b"IMPLEMENTATION Postroom-") for line in lines)


def test_capa_omits_user_when_plaintext_is_not_allowed_and_stls_once_tls_is_on():
    s = Session(INSECURE)
    lines = data(s.receive(b"CAPA\r\n")).split(b"\r\n")
    assert b"USER" not in lines and b"SASL SCRAM-SHA-256" in lines
    s.tls_started(Security(tls=True, plaintext_allowed=True, mechanisms=["PLAIN"],
                           stls_available=True))
    lines = data(s.receive(b"CAPA\r\n")).split(b"\r\n")
    assert b"USER" in lines and b"STLS" not in lines


def test_capa_in_transaction_has_no_login_capabilities():
    lines = data(logged_in(1).receive(b"CAPA\r\n")).split(b"\r\n")
    assert b"TOP" in lines and b"USER" not in lines and b"STLS" not in lines


def test_stls_then_refused_once_tls_is_active():
    s = Session(SECURE)
    assert isinstance(s.receive(b"STLS\r\n"), StartTLS)
    s.tls_started(Security(tls=True, plaintext_allowed=True, mechanisms=[],
                           stls_available=True))
    assert data(s.receive(b"STLS\r\n")).startswith(b"-ERR")


def test_auth_with_initial_response_and_empty_one():
    s = Session(SECURE)
    ir = base64.b64encode(b"\0alice\0pw").decode()
    assert s.receive(f"AUTH plain {ir}\r\n".encode()) == Authenticate("PLAIN", b"\0alice\0pw")
    assert s.receive(b"AUTH PLAIN =\r\n") == Authenticate("PLAIN", b"")
    assert s.receive(b"AUTH SCRAM-SHA-256\r\n") == Authenticate("SCRAM-SHA-256", None)


def test_auth_unknown_mechanism_and_bad_base64_are_refused():
    s = Session(INSECURE)
    assert data(s.receive(b"AUTH PLAIN\r\n")).startswith(b"-ERR")
    assert data(s.receive(b"AUTH SCRAM-SHA-256 !!!\r\n")).startswith(b"-ERR [AUTH]")


def test_bare_auth_lists_mechanisms():
    assert data(Session(SECURE).receive(b"AUTH\r\n")) == (
        b"+OK Mechanisms follow\r\nPLAIN\r\nLOGIN\r\nSCRAM-SHA-256\r\n.\r\n")


def test_failed_login_codes():
    s = Session(SECURE)
    assert s.login_failed("nope").data.startswith(b"-ERR [AUTH] nope")
    assert s.login_failed("later", temporary=True).data.startswith(b"-ERR [SYS/TEMP] later")
    assert s.state is State.AUTHORIZATION


def test_utf8_only_in_authorization():
    s = Session(SECURE)
    assert data(s.receive(b"UTF8\r\n")).startswith(b"+OK") and s.utf8
    assert data(logged_in(1).receive(b"UTF8\r\n")).startswith(b"-ERR")


def test_transaction_commands_refused_before_login():
    s = Session(SECURE)
    for cmd in (b"STAT", b"LIST", b"RETR 1", b"DELE 1", b"NOOP", b"RSET", b"TOP 1 0", b"UIDL"):
        assert data(s.receive(cmd + b"\r\n")).startswith(b"-ERR")


def test_quit_in_authorization_closes_without_update():
    reply = Session(SECURE).receive(b"QUIT\r\n")
    assert isinstance(reply, Reply) and reply.close and reply.data.startswith(b"+OK")


# --- TRANSACTION --------------------------------------------------------------------------------

def test_stat_list_uidl():
    s = logged_in(100, 200)
    assert data(s.receive(b"STAT\r\n")) == b"+OK 2 300\r\n"
    assert data(s.receive(b"LIST\r\n")) == (
        b"+OK 2 messages (300 octets)\r\n1 100\r\n2 200\r\n.\r\n")
    assert data(s.receive(b"LIST 2\r\n")) == b"+OK 2 200\r\n"
    assert data(s.receive(b"UIDL\r\n")) == (
        b"+OK Unique-ID listing follows\r\n1 1234.a\r\n2 1234.b\r\n.\r\n")
    assert data(s.receive(b"uidl 1\r\n")) == b"+OK 1 1234.a\r\n"


def test_deleted_messages_vanish_from_listings_until_rset():
    s = logged_in(100, 200, 300)
    assert data(s.receive(b"DELE 2\r\n")).startswith(b"+OK")
    assert data(s.receive(b"DELE 2\r\n")).startswith(b"-ERR")
    assert data(s.receive(b"STAT\r\n")) == b"+OK 2 400\r\n"
    assert b"\r\n2 " not in data(s.receive(b"LIST\r\n"))
    assert data(s.receive(b"RETR 2\r\n")).startswith(b"-ERR")
    assert data(s.receive(b"RSET\r\n")).startswith(b"+OK")
    assert data(s.receive(b"STAT\r\n")) == b"+OK 3 600\r\n"


def test_quit_in_transaction_enters_update_with_the_deleted_uids():
    s = logged_in(1, 2, 3)
    s.receive(b"DELE 3\r\n")
    s.receive(b"DELE 1\r\n")
    assert s.receive(b"QUIT\r\n") == Update((10, 12))
    assert s.state is State.UPDATE
    assert s.updated().close


def test_retr_and_top_ask_for_the_message():
    s = logged_in(100, 200)
    assert s.receive(b"RETR 2\r\n") == Retrieve(2, 11, 200, None)
    assert s.receive(b"TOP 1 5\r\n") == Retrieve(1, 10, 100, 5)
    assert data(s.receive(b"TOP 1 -1\r\n")).startswith(b"-ERR")


def test_bad_message_numbers():
    s = logged_in(100)
    for arg in (b"0", b"2", b"-1", b"+1", b"x", b"99999999999999999999", "١".encode()):
        assert data(s.receive(b"RETR " + arg + b"\r\n")).startswith(b"-ERR"), arg


def test_wrong_arguments_unknown_commands_and_invalid_utf8():
    s = logged_in(100)
    for line in (b"STAT 1", b"RETR", b"TOP 1", b"LIST 1 2", b"XYZZY", b"", b"RETR  1",
                 b"\xff\xfe"):
        assert data(s.receive(line + b"\r\n")).startswith(b"-ERR"), line


def test_too_many_bad_commands_close_the_connection():
    s = Session(SECURE, max_bad_commands=3)
    assert not s.receive(b"BAD\r\n").close
    assert not s.receive(b"BAD\r\n").close
    assert s.receive(b"BAD\r\n").close


def test_message_reply_counts_octets_and_terminates():
    s = logged_in(10)
    reply = s.message(b"A: b\r\n\r\nbody\r\n", 10, None)
    assert reply.data == b"+OK 10 octets\r\nA: b\r\n\r\nbody\r\n.\r\n"


def test_message_ready_for_the_wire_is_sent_as_it_is_after_the_status_line():
    s = logged_in(10)
    raw = b"A: b\r\n\r\nbody\r\n"
    reply = s.message(raw, 10, None, wire_ready=True)
    assert reply.data == b"+OK 10 octets\r\n" and reply.more == (raw, b".\r\n")
    assert reply.more[0] is raw
    # TOP still cuts the message, ready or not.
    top = s.message(raw, 10, 0, wire_ready=True)
    assert top.data == b"+OK Top of message follows\r\nA: b\r\n\r\n.\r\n" and not top.more


def test_every_command_in_the_table_has_a_handler():
    for name in COMMANDS:
        assert callable(getattr(Session, "_cmd_" + name.lower()))


# --- the wire form of a message -----------------------------------------------------------------

def test_wire_message_dot_stuffs_and_normalizes_line_ends():
    raw = b".first\nSubject: x\n\n.\n..two\r\nlast"
    assert wire_message(raw) == b"..first\r\nSubject: x\r\n\r\n..\r\n...two\r\nlast\r\n.\r\n"


def test_wire_message_top():
    raw = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
    assert wire_message(raw, 0) == b"A: 1\r\nB: 2\r\n\r\n.\r\n"
    assert wire_message(raw, 2) == b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.\r\n"
    assert wire_message(raw, 99) == raw + b".\r\n"
    assert wire_message(b"A: 1\r\n", 3) == b"A: 1\r\n.\r\n"
    assert wire_message(b"\r\nbody\r\nmore", 1) == b"\r\nbody\r\n.\r\n"


def test_wire_message_empty():
    assert wire_message(b"") == b".\r\n"


def unstuff(wire: bytes) -> bytes:
    """What a client does (RFC 1939 §3) to get the message back."""
    assert wire.endswith(b".\r\n")
    lines = wire[:-3].split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_wire_message_round_trips_crlf_messages(body: bytes):
    raw = body.replace(b"\r", b"").replace(b"\n", b"\r\n")
    wire = wire_message(raw)
    assert b"\r\n.\r\n" not in wire[:-3] and not wire[:-3].startswith(b".\r\n")
    expected = raw if raw.endswith(b"\r\n") or not raw else raw + b"\r\n"
    assert unstuff(wire) == expected


# --- the line buffer ----------------------------------------------------------------------------

def test_line_buffer_splits_and_limits():
    buf = LineBuffer(10)
    buf.feed(b"NOOP\r\nST")
    assert buf.next_line() == b"NOOP\r\n"
    assert buf.next_line() is None
    buf.feed(b"AT\r\n" + b"x" * 20)
    assert buf.next_line() == b"STAT\r\n"
    try:
        buf.next_line()
        raise AssertionError("expected LineTooLong")
    except LineTooLong:
        pass
    buf.feed(b"xxxx\r\nQUIT\r\n")       # the rest of the long line is dropped
    assert buf.next_line() == b"QUIT\r\n"


def test_line_buffer_clear_drops_pipelined_plaintext():
    buf = LineBuffer(100)
    buf.feed(b"STLS\r\nUSER evil\r\n")
    assert buf.next_line() == b"STLS\r\n"
    buf.clear()
    assert buf.next_line() is None


# --- fuzz ---------------------------------------------------------------------------------------

_commands = st.sampled_from(sorted(COMMANDS) + ["XYZZY", "", "list", "Top"])
_args = st.lists(st.one_of(st.integers(-2, 5).map(str), st.text(max_size=6)), max_size=3)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(_commands, _args).map(lambda c: " ".join([c[0], *c[1]]).encode("utf-8",
                                                                            "surrogatepass")),
    st.binary(max_size=40)), max_size=25))
def test_no_input_makes_the_session_raise(lines: list[bytes]):
    s = Session(SECURE, max_bad_commands=1000)
    for line in lines:
        effect = s.receive(line + b"\r\n")
        if isinstance(effect, Login):
            s.logged_in(drop(5, 6, 7))
        elif isinstance(effect, Retrieve):
            s.message(b"Subject: x\r\n\r\nhi\r\n", effect.size, effect.body_lines)
        elif isinstance(effect, Update):
            assert s.updated().close
            break
        elif isinstance(effect, Reply):
            assert effect.data.startswith((b"+OK", b"-ERR")) or effect.close
            if effect.close:
                break
