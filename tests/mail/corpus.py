"""Hand-made messages that exercise the corners of MIME and RFC 5322, and the CPython email test
data. Shared by the structure tests, the section tests and the Dovecot comparison."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

TRICKY: dict[str, bytes] = {
    "simple": b"From: a@b.c\r\nSubject: hi\r\n\r\nbody\r\n",
    "params_case_and_fields": (
        b"Content-Type: Text/HTML; CharSet=\"UTF-8\"; Foo=Bar\r\n"
        b"Content-Transfer-Encoding: Quoted-Printable\r\nContent-ID: <x@y>\r\n"
        b"Content-Description: desc \"q\"\r\nContent-Language: en, de\r\n"
        b"Content-Location: http://x/y\r\nContent-MD5: abc\r\n"
        b"Content-Disposition: Inline; FileName=\"a b.txt\"\r\n\r\nline1\r\nline2"),
    "rfc2231": (
        b"Content-Type: application/octet-stream; name*0*=utf-8''J%C3%B6; name*1*=rg.txt;"
        b" title*0=\"a \"; title*1=\"b\"\r\n"
        b"Content-Disposition: attachment; filename*=utf-8'en'%E2%82%AC.txt\r\n\r\nx\r\n"),
    "nested_rfc822": (
        b"From: Outer <o@x.test>\r\nSubject: outer\r\n"
        b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\n\r\n"
        b"part one\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y\r\n"
        b"Subject: inner\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n"
        b"Content-Type: text/plain\r\n\r\nplain\r\n--b2\r\nContent-Type: text/html\r\n\r\n"
        b"<b>h</b>\r\n--b2--\r\n\r\n--b1--\r\nepilogue\r\n"),
    "multipart_no_boundary": b"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n",
    "multipart_no_parts": b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts here\r\n",
    "multipart_unterminated": (
        b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\nunterminated\r\n"),
    "rfc822_base64": (
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"RnJvbTogeEB5DQoNCmhp\r\n"),
    "type_without_subtype": b"Content-Type: text\r\n\r\nx",
    "empty_type": b"Content-Type: ;\r\n\r\nx",
    "image": b"Content-Type: image/png; name=a.png\r\n\r\nxxxx",
    "header_only": b"Subject: no body",
    "bare_lf": b"Subject: lf only\n\nline\nline2\n",
    "prefix_boundaries": (
        b"Content-Type: multipart/mixed; boundary=abc\r\n\r\n--abc\r\n"
        b"Content-Type: multipart/mixed; boundary=abcdef\r\n\r\n--abcdef\r\n\r\ninner\r\n"
        b"--abcdef--\r\n--abc--\r\n"),
    "flowed_attachment": (
        b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n"
        b"Content-Disposition: attachment\r\n\r\nx\r\n"),
    "param_without_value": b"Content-Type: text/plain; charset\r\n\r\nx\r\n",
    "param_quoting": b"Content-Type: text/plain; a=\"x\\\"y\"; b='q'\r\n\r\nx\r\n",
    "digest": (
        b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nFrom: a@b\r\n\r\ninner\r\n"
        b"--d--\r\n"),
    "multipart_extension": (
        b"Content-Type: multipart/mixed; boundary=b\r\nContent-Disposition: inline\r\n"
        b"Content-Language: en\r\nContent-Location: loc\r\n\r\n--b\r\n\r\nx\r\n--b--"),
    "empty_body": b"Subject: x\r\n\r\n",
    "boundary_whitespace": (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b \r\n\r\ny\r\n"
        b"--b-- \r\n"),
    "envelope_fields": (
        b"Date: Mon, 1 Jan 2024\r\n  10:00:00 +0000\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
        b"\tfolded  two\r\nMessage-ID:  <a@b> (c)\r\nIn-Reply-To: <x@y> <z@w>\r\n"
        b"Subject: second\r\nFrom: a@b\r\nSender: \r\nReply-To: r@s\r\n\r\nx"),
    "eight_bit_subject_two_froms": (
        b"Subject: caf\xc3\xa9 \"q\" \\\r\nFrom: a@b\r\nFrom: c@d\r\nMessage-ID: <m@x>\r\n"
        b"Message-ID: <n@x>\r\n\r\nx"),
    "empty_fields": b"Subject:\r\nDate:\r\nMessage-ID:\r\n\r\n",
    "groups": (
        b"From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
        b"To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, Mary <m@x>\r\n"
        b"Cc: Undisclosed recipients:;\r\nBcc: pete(his account)@silly.test(his host)\r\n"
        b"Subject: groups\r\n\r\nx\r\n"),
    "odd_addresses": (
        b"From: =?utf-8?q?J=C3=B6rg?= <j@x.de>\r\nTo: user, @host, <@route,@r2:a@b>\r\n"
        b"Cc: a@b, , c@d\r\nReply-To: a b c <x@y>, \"a\"   \"b\" <x@y>, x <>\r\n\r\nx\r\n"),
    "garbage_header_line": b"garbage line\r\nSubject: after garbage\r\n\r\nbody\r\n",
    "nul_in_subject": b"Subject: nul\x00here\r\n\r\n",
    "missing_content_type_in_parts": (
        b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"=_x\"\r\n\r\n"
        b"--=_x\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--=_x\r\n"
        b"Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
        b"quoted-printable\r\n\r\n<p>caf=E9</p>\r\n--=_x--\r\n"),
    "bad_boundary_in_body": (
        b"Content-Type: multipart/mixed; boundary=real\r\n\r\n--fake\r\n\r\nnot a part\r\n"
        b"--real\r\nContent-Type: text/plain\r\n\r\nreal part\r\n--real--\r\n"),
    "deep_nesting": (
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: message/rfc822\r\n\r\nSubject: deep\r\n"
        b"Content-Type: multipart/related; boundary=c; type=\"text/html\"\r\n\r\n--c\r\n"
        b"Content-Type: text/html\r\n\r\n<p>x</p>\r\n--c\r\n"
        b"Content-Type: image/gif\r\nContent-ID: <img@x>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nR0lGODlh\r\n--c--\r\n"
        b"--b--\r\n--a\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\n"
        b"Content-Disposition: attachment; filename=\"r.pdf\"\r\n\r\n%PDF\r\n--a--\r\n"),
    "part_header_cut_by_boundary": (
        b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n"
        b"--q\r\n\r\nsecond\r\n--q--\r\n"),
    "lf_multipart": (
        b"Subject: lf mime\nContent-Type: multipart/mixed; boundary=z\n\n--z\n"
        b"Content-Type: text/plain\n\nhello\n--z\nContent-Type: text/html\n\n<i>x</i>\n--z--\n"),
    "encoded_subject_sort": (
        b"Subject: Re: [list] Fwd: =?iso-8859-1?q?R=E9sum=E9?= (fwd)\r\n"
        b"From: \"Zed\" <ZED@Example.COM>\r\nTo: Bob <bob@x>\r\n"
        b"Message-ID: <id1@x>\r\nIn-Reply-To: <id0@x>\r\nReferences: <r1@x>\r\n <id0@x>\r\n"
        b"Date: Tue, 2 Jan 2024 10:00:00 +0100\r\n\r\nbody\r\n"),
    "message_global": b"Content-Type: message/global\r\n\r\nFrom: a@b\r\n\r\nx\r\n",
}

# Where we follow the RFC and Dovecot 2.3 does not: ENVELOPE/BODYSTRUCTURE/BODY are then not
# compared with Dovecot's (test_dovecot.py).
DOVECOT_DIFFERS = {
    # RFC 9051 §7.5.2 treats message/global like message/rfc822; Dovecot 2.3 shows a leaf.
    "message_global",
    # Dovecot counts and sizes bare-LF input as if it had CRLF line ends (it stores LF); our
    # sizes are those of the bytes BODY[] returns.
    "bare_lf", "lf_multipart",
    # An invalid Content-Type ("text", ";", "text; charset=..."): RFC 2045 §5.2 says treat it as
    # text/plain; Dovecot shows "text" "" or "" "".
    "type_without_subtype", "empty_type", "msg_14.txt",
    # "boundary*=" (RFC 2231 extended boundary): we honour it, Dovecot sees no boundary.
    "msg_33.txt",
}
# Sections Dovecot returns differently: it stores NUL as 0x80; it adds a blank line to
# HEADER.FIELDS of a header with no blank line (RFC 9051 §6.4.5 says not to); a multipart ended
# by an outer boundary keeps the CRLF before that boundary (RFC 2046 §5.1.1 gives it to the
# boundary).
DOVECOT_SECTIONS_DIFFER = {
    ("nul_in_subject", "HEADER"), ("nul_in_subject", "1.MIME"),
    ("nul_in_subject", "HEADER.FIELDS (From Subject)"),
    ("msg_35.txt", "HEADER.FIELDS (From Subject)"), ("msg_38.txt", "1"),
}


def cpython_email_corpus() -> list[Path]:
    """The message files of CPython's email test suite, or [] when the tests are not installed."""
    candidates = [Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"]
    try:
        import test.test_email  # noqa: F401
        candidates.append(Path(os.path.dirname(test.test_email.__file__)) / "data")
    except ImportError:
        pass
    for d in candidates:
        if d.is_dir():
            return sorted(p for p in d.iterdir()
                          if p.is_file() and p.name.startswith("msg_"))
    return []
