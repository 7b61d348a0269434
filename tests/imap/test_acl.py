"""ACL (RFC 4314): a user shares a folder with a colleague, who finds it under "Other Users",
reads it and - with the rights for it - files mail into it; without them, NO [NOPERM]."""

from postroom.auth import passwords
from postroom.store.api import ACL_MAILBOX
from tests.conftest import make_message
from tests.imap.conftest import CHEAP, PASSWORD, USER
from tests.imap.test_session import Raw

BOB = "bob@example.test"


async def two_users(imap):
    pw_hash, scram = passwords.make_credentials(PASSWORD, parameters=CHEAP)
    bob = await imap.store.create_account(BOB, pw_hash, scram)
    alice = await Raw.connect(imap.port)
    await alice.login()
    b = await Raw.connect(imap.port)
    assert (await b.cmd(f'L LOGIN {BOB} "{PASSWORD}"'))[-1].startswith(b"L OK")
    return alice, b, bob


async def test_owner_shares_a_folder_and_the_colleague_reads_it(imap):
    alice, bob, bob_account = await two_users(imap)
    await alice.cmd("a CREATE Team")
    team = await imap.store.get_mailbox(imap.account.id, "Team")
    await imap.store.append(imap.account.id, team.id, make_message("plan", "the plan\r\n"))
    assert (await alice.cmd(f"b SETACL Team {BOB} lr"))[-1].startswith(b"b OK")
    res = await alice.cmd("c GETACL Team")
    assert res[0] == f'* ACL "Team" "{USER}" lrswipkxtea "{BOB}" lr\r\n'.encode()
    assert (await alice.cmd(f"d SETACL Team {BOB} +is"))[-1].startswith(b"d OK")
    assert await imap.store.rights_of(bob_account.id, imap.account.id, ACL_MAILBOX,
                                      team.id) == "lrsi"
    assert (await alice.cmd(f"e SETACL Team {BOB} -s"))[-1].startswith(b"e OK")

    res = await bob.cmd("n NAMESPACE")
    assert res[0] == b'* NAMESPACE (("" "/")) (("Other Users/" "/")) NIL\r\n'
    res = b"".join(await bob.cmd('l LIST "" "Other Users/*"'))
    assert f'* LIST (\\Noselect \\HasChildren) "/" "Other Users/{USER}"'.encode() in res
    assert f'* LIST (\\HasNoChildren) "/" "Other Users/{USER}/Team"'.encode() in res
    shared = f'"Other Users/{USER}/Team"'
    assert (await bob.cmd(f"m MYRIGHTS {shared}"))[0] == \
        f"* MYRIGHTS {shared} lri\r\n".encode()
    res = b"".join(await bob.cmd(f"s SELECT {shared}"))
    assert b"* 1 EXISTS" in res and b"s OK [READ-ONLY]" in res      # no s, w, t or e
    res = b"".join(await bob.cmd("f FETCH 1 (BODY[TEXT])"))
    assert b"the plan" in res and b"\\Seen" not in res              # no "s": \Seen stays off
    assert (await bob.cmd("g STORE 1 +FLAGS (\\Flagged)"))[-1].startswith(b"g NO")
    # "i": he may file his own mail into her folder, but not read her other folders.
    assert (await bob.cmd(f"h COPY 1 {shared}"))[-1].startswith(b"h OK [COPYUID")
    assert (await bob.cmd(f'i STATUS "Other Users/{USER}/INBOX" (MESSAGES)'))[-1] \
        .startswith(b"i NO [NONEXISTENT]")
    assert (await bob.cmd(f"j GETACL {shared}"))[-1].startswith(b"j NO [NOPERM]")
    assert (await bob.cmd("q MOVE 1 INBOX"))[-1].startswith(b"q NO [READ-ONLY]")  # no t, e
    # From his own INBOX into her folder: another account, the same stored message.
    bob_inbox = await imap.store.get_mailbox(bob_account.id, "INBOX")
    await imap.store.append(bob_account.id, bob_inbox.id, make_message("mine"), ["\\Seen"])
    await bob.cmd("r SELECT INBOX")
    assert (await bob.cmd(f"t COPY 1 {shared}"))[-1].startswith(b"t OK [COPYUID")
    assert (await alice.cmd("k STATUS Team (MESSAGES UNSEEN)"))[0] == \
        b'* STATUS "Team" (MESSAGES 3 UNSEEN 3)\r\n'          # his \Seen needs "s" there

    assert (await alice.cmd(f"o DELETEACL Team {BOB}"))[-1].startswith(b"o OK")
    res = await bob.cmd(f"p STATUS {shared} (MESSAGES)")
    assert res[-1].startswith(b"p NO [NONEXISTENT]")
    alice.close()
    bob.close()


async def test_listrights_and_bad_rights(imap):
    alice, bob, _ = await two_users(imap)
    res = await alice.cmd(f"a LISTRIGHTS INBOX {BOB}")
    assert res[0] == f'* LISTRIGHTS "INBOX" "{BOB}" "" l r s w i p k x t e a\r\n'.encode()
    assert (await alice.cmd(f"b SETACL INBOX {BOB} lrz"))[-1].startswith(b"b BAD")
    assert (await alice.cmd("c SETACL INBOX anyone lr"))[-1].startswith(b"c NO")
    assert (await alice.cmd("d CREATE \"Other Users/x\""))[-1].startswith(b"d NO [CANNOT]")
    alice.close()
    bob.close()
