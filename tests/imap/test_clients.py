"""Python's imaplib and imapclient against a live door, through every command."""

import imaplib

import imapclient

from tests.conftest import make_message
from tests.imap.conftest import PASSWORD, USER, in_thread, insecure_context

MULTIPART = (b"From: Bob <bob@example.org>\r\nTo: alice@example.test\r\nSubject: parts\r\n"
             b"Message-ID: <mp@example.org>\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
             b"--XX\r\nContent-Type: text/plain\r\n\r\nhello body\r\n"
             b"--XX\r\nContent-Type: application/octet-stream\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--XX--\r\n")


def imaplib_script(port: int) -> dict:
    out = {}
    c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    out["caps"] = c.capabilities
    c.starttls(ssl_context=insecure_context())
    c.login(USER, PASSWORD)
    c.enable("CONDSTORE")
    out["ns"] = c.namespace()
    assert c.create("Work/Projects")[0] == "OK"
    assert c.create("Entwürfe".encode("utf-8").decode("latin-1") if False else "Temp")[0] == "OK"
    assert c.rename("Temp", "Temp2")[0] == "OK"
    assert c.subscribe("Work")[0] == "OK"
    out["lsub"] = c.lsub()[1]
    out["list"] = c.list()[1]
    assert c.delete("Temp2")[0] == "OK"
    typ, data = c.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(1700000000),
                         make_message(subject="appended"))
    out["append"] = (typ, data)
    typ, data = c.append("INBOX", None, None, MULTIPART)
    out["status"] = c.status("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY SIZE HIGHESTMODSEQ)")
    typ, data = c.select("INBOX")
    out["exists"] = data
    out["fetch"] = c.fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
    out["body"] = c.fetch("2", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BINARY.PEEK[2] BINARY.SIZE[2] "
                               "BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[]<0.10>)")
    out["rfc822"] = c.fetch("1", "(RFC822)")
    out["seen"] = c.fetch("1", "(FLAGS)")
    out["store"] = c.store("2", "+FLAGS", "(\\Deleted)")
    out["search"] = c.search(None, "DELETED")
    out["uidsearch"] = c.uid("SEARCH", "SUBJECT", "appended")
    out["copy"] = c.copy("1", "Work")
    out["sort"] = c.sort("(REVERSE SUBJECT)", "UTF-8", "ALL")
    out["thread"] = c.thread("REFERENCES", "UTF-8", "ALL")
    out["expunge"] = c.expunge()
    out["check"] = c.check()
    out["move"] = c.uid("MOVE", "1:*", "Work")
    out["after_move"] = c.search(None, "ALL")
    out["getquotaroot"] = c.getquotaroot("INBOX")
    out["close"] = c.close()
    out["logout"] = c.logout()
    return out


async def test_imaplib_through_every_command(imap):
    out = await in_thread(imaplib_script, imap.port)
    assert "STARTTLS" in out["caps"]
    assert out["append"][0] == "OK" and b"APPENDUID" in out["append"][1][0]
    assert any(b"Work/Projects" in l for l in out["list"]) and any(b"\\Sent" in l for l in out["list"])
    assert b'() "/" "Work"' in out["lsub"]
    assert b"MESSAGES 2" in out["status"][1][0] and b"SIZE" in out["status"][1][0]
    assert out["exists"] == [b"2"]
    fetch = out["fetch"][1]
    assert b"ENVELOPE" in fetch[0] and b"BODYSTRUCTURE" in fetch[0]
    body = out["body"][1]
    flat = [x for item in body for x in (item if isinstance(item, tuple) else (item,))]
    assert b"hello body" in flat
    assert b"\x00\x01\x02\x03" in flat
    assert any(b"BINARY.SIZE[2] 4" in x for x in flat)
    assert out["seen"][1][0].find(b"\\Seen") > 0
    assert out["search"] == ("OK", [b"2"])
    assert out["uidsearch"] == ("OK", [b"1"])
    assert out["copy"][0] == "OK" and b"COPYUID" in out["copy"][1][0]
    assert out["sort"] == ("OK", [b"2 1"])
    assert out["thread"][0] == "OK"
    assert out["expunge"] == ("OK", [b"2"])
    assert out["move"][0] == "OK"
    assert out["after_move"] == ("OK", [b""])
    assert out["close"][0] == "OK" and out["logout"][0] == "BYE"


def imapclient_script(port: int) -> dict:
    out = {}
    c = imapclient.IMAPClient("127.0.0.1", port=port, ssl=True, ssl_context=insecure_context(),
                              timeout=10)
    c.login(USER, PASSWORD)
    out["caps"] = c.capabilities()
    out["id"] = c.id_({"name": "test"})
    out["enable"] = c.enable("CONDSTORE", "QRESYNC")
    out["folders"] = c.list_folders()
    out["special"] = c.find_special_folder(imapclient.imapclient.SENT)
    out["create"] = c.create_folder("Entwürfe")
    out["folders2"] = [f[2] for f in c.list_folders()]
    out["append"] = c.append("Entwürfe", make_message(subject="draft"), flags=[b"\\Draft"])
    out["multi"] = c.multiappend("INBOX", [make_message(subject=f"m{i}") for i in range(3)])
    sel = c.select_folder("INBOX")
    out["select"] = sel
    out["fetch"] = c.fetch(c.search(), ["FLAGS", "MODSEQ", "EMAILID", "THREADID", "PREVIEW",
                                   "SAVEDATE", "BODY.PEEK[TEXT]"])
    out["set_flags"] = c.add_flags([1], [b"$Label1"], silent=False)
    out["search"] = c.search(["NOT", "KEYWORD", "$Label1", "OR", "SUBJECT", "m1", "SUBJECT", "m2"])
    out["gmail_like"] = c.search(["SINCE", "1-Jan-2000", "LARGER", "10"])
    out["sort"] = c.sort(["SUBJECT"])
    c.idle()
    out["idle"] = c.idle_check(timeout=0.2)
    c.idle_done()
    out["delete_msgs"] = c.delete_messages([1])
    out["expunge"] = c.uid_expunge([1])
    for name in ("SETMETADATA", "GETMETADATA"):
        imaplib.Commands.setdefault(name, ("AUTH", "SELECTED"))
    out["setmeta"] = c._imap._simple_command("SETMETADATA", "INBOX",
                                             '(/private/comment "hi there")')
    out["getmeta"] = c._imap._simple_command("GETMETADATA", "INBOX", "/private/comment")
    out["getmeta_data"] = c._imap.untagged_responses.pop("METADATA", None)
    out["unselect"] = c.unselect_folder()
    out["status"] = c.folder_status("INBOX", ["MESSAGES", "HIGHESTMODSEQ", "UIDNEXT"])
    out["delete"] = c.delete_folder("Entwürfe")
    c.logout()
    return out


async def test_imapclient_through_every_command(imap):
    out = await in_thread(imapclient_script, imap.port_tls if hasattr(imap, "port_tls")
                          else imap.tls_port)
    caps = out["caps"]
    for cap in (b"IDLE", b"UIDPLUS", b"MOVE", b"CONDSTORE", b"QRESYNC", b"ESEARCH", b"SORT",
                b"MULTIAPPEND", b"APPENDLIMIT=52428800"):
        assert cap in caps
    assert out["special"] == "Sent"
    assert "Entwürfe" in out["folders2"]
    assert b"APPENDUID" in out["multi"][1][0]
    assert out["select"][b"EXISTS"] == 3
    f = out["fetch"][1]
    assert b"MODSEQ" in f and b"EMAILID" in f and b"THREADID" in f and b"PREVIEW" in f
    assert out["search"] == [2, 3]
    assert out["gmail_like"] == [1, 2, 3]
    assert out["sort"] == [1, 2, 3]
    assert out["status"][b"MESSAGES"] == 2
    assert out["setmeta"][0] == "OK"
    assert out["getmeta_data"] == [b'"INBOX" ("/private/comment" "hi there")']
