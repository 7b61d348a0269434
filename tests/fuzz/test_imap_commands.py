"""Fuzzing IMAP commands past the tokenizer: mutated FETCH, SEARCH, SORT, STORE, LIST, STATUS,
ACL, METADATA, NOTIFY... lines sent to a live session with mail in it. Every answer must be a
tagged OK, NO or BAD, never [SERVERBUG] and never a dropped connection (tests/imap fuzzes the
wire reader itself)."""

from __future__ import annotations

import os
import random

from tests.conftest import make_message
from tests.imap.conftest import make_env
from tests.imap.test_session import Raw

COMMANDS = [
    "SELECT INBOX", "EXAMINE INBOX (CONDSTORE)", "SELECT INBOX (QRESYNC (1 1 1:5))",
    "FETCH 1:* (FLAGS UID ENVELOPE BODYSTRUCTURE RFC822.SIZE INTERNALDATE MODSEQ)",
    "FETCH 1:3 (BODY.PEEK[HEADER.FIELDS (From Subject)] BODY.PEEK[1.MIME] BINARY.PEEK[1]<0.10>)",
    "UID FETCH 1:* (BODY.PEEK[TEXT]<2.5> PREVIEW EMAILID THREADID SAVEDATE) (CHANGEDSINCE 1)",
    "UID SEARCH OR FROM alice TEXT hello SINCE 1-Jan-2020 NOT DELETED LARGER 10",
    "SEARCH RETURN (MIN MAX COUNT SAVE) CHARSET UTF-8 SUBJECT \"m1\" 1:* UNSEEN",
    "UID SEARCH MODSEQ 2 OLDER 100000 YOUNGER 5 HEADER X-Spam yes",
    "SORT (REVERSE DATE SUBJECT) UTF-8 ALL", "SORT (DISPLAYFROM) UTF-8 $",
    "THREAD REFERENCES UTF-8 ALL", "THREAD ORDEREDSUBJECT US-ASCII SEEN",
    "STORE 1:2 +FLAGS (\\Seen $Work)", "UID STORE 1 (UNCHANGEDSINCE 3) -FLAGS.SILENT (\\Seen)",
    "COPY 1:2 Archive", "UID MOVE 3 Trash", "UID EXPUNGE 1:2",
    "LIST \"\" \"*\" RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES SIZE))",
    "LIST (SPECIAL-USE SUBSCRIBED) \"\" \"%\"", "LSUB \"\" \"*\"",
    "STATUS INBOX (MESSAGES UIDNEXT UNSEEN HIGHESTMODSEQ SIZE)",
    "CREATE Fuzz/Deep (USE (\\Archive))", "RENAME Fuzz Fuzzed", "DELETE Fuzzed",
    "GETQUOTAROOT INBOX", "GETQUOTA \"\"", "SETMETADATA INBOX (/private/comment \"hi\")",
    "GETMETADATA (MAXSIZE 100 DEPTH infinity) INBOX /private",
    "SETACL INBOX bob@example.test +lr", "GETACL INBOX", "MYRIGHTS INBOX",
    "LISTRIGHTS INBOX bob@example.test", "NOTIFY SET (SELECTED (MessageNew (UID FLAGS)))",
    "NOTIFY NONE", "ENABLE QRESYNC UTF8=ACCEPT", "NAMESPACE", "ID (\"name\" \"fuzz\")",
    "CHECK", "NOOP", "UNSELECT", "CLOSE",
]


def mutate(rng: random.Random, line: str) -> str:
    chars = list(line)
    for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3)):
        i = rng.randrange(len(chars) + 1)
        op = rng.randrange(4)
        if op == 0 and chars:
            chars[min(i, len(chars) - 1)] = rng.choice('()[]<>"\\*$%:.,0123456789 -+~aZ\x01é')
        elif op == 1:
            del chars[i:i + rng.randint(1, 6)]
        elif op == 2:
            chars[i:i] = chars[i:i + rng.randint(1, 8)]
        else:
            chars.insert(i, rng.choice(["(", ")", "\"", "*", "1:*", "$", "NIL", " "]))
    # No literal announcements ("{n}"): they would wait for data this test does not send.
    return "".join(chars).replace("{", "(").replace("\r", "").replace("\n", "")


async def test_mutated_commands_get_ok_no_or_bad_never_a_server_error(tmp_path):
    rng = random.Random(int(os.environ.get("FUZZ_SEED", 99)))
    env = await make_env(tmp_path)
    try:
        for i in range(6):
            await env.deliver(make_message(f"m{i}", f"hello body {i}\r\n"))
        c = await Raw.connect(env.port)
        await c.login()
        seen: dict[bytes, int] = {}
        for n in range(400):
            if n % 10 == 0:
                await c.cmd(f"s{n} SELECT INBOX")   # most commands need a selected mailbox
            line = mutate(rng, rng.choice(COMMANDS)) if rng.random() < 0.75 else \
                rng.choice(COMMANDS)
            tag = f"f{n}"
            res = await c.cmd(f"{tag} {line}")
            last = res[-1]
            assert last.split(b" ")[1] in (b"OK", b"NO", b"BAD"), (line, res)
            seen[last.split(b" ")[1]] = seen.get(last.split(b" ")[1], 0) + 1
            assert b"SERVERBUG" not in last, (line, res)
            if any(r.startswith(b"* BYE") for r in res):
                c = await Raw.connect(env.port)
                await c.login()
        assert (await c.cmd("z NOOP"))[-1].startswith(b"z OK")
        print("answers", seen)
        assert seen.get(b"OK", 0) > 60  # the mutations still reach the commands
    finally:
        await env.door.stop()
        await env.store.close()
