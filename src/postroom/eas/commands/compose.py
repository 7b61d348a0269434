"""SendMail, SmartReply, SmartForward (MS-ASCMD §2.2.1.17, .19, .20).

14.0 and later wrap the MIME message in ComposeMail WBXML; 12.1 posts it raw with the options in
the query (SaveInSent=T, CollectionId, ItemId). Every message goes through ``submission.submit``,
the one path all doors send by (local delivery at once, the rest into the durable queue). A
ClientId already sent from this device answers 118 instead of sending twice. Success is an empty
200, as Exchange answers.
"""

from __future__ import annotations

from postroom.eas import hierarchy
from postroom.eas.hierarchy import split_item_id
from postroom.eas.protocol import CommandError, Request, Response
from postroom.eas.wbxml import Element
from postroom.mail import compose
from postroom.store.api import (ANSWERED, EAS_SOURCE_MAILBOX, QuotaExceeded, StoreError)
from postroom.submission import SubmissionRefused, submit

# MS-ASCMD §2.2.2 common Status values used by the compose commands
INVALID_CONTENT = 101
INVALID_MIME = 107
SERVER_ERROR = 110
MAILBOX_QUOTA_EXCEEDED = 113
MESSAGE_PREVIOUSLY_SENT = 118
MESSAGE_HAS_NO_RECIPIENT = 119
MAIL_SUBMISSION_FAILED = 120
MESSAGE_REPLY_FAILED = 121
ITEM_NOT_FOUND = 150

FORWARDED = "$Forwarded"
REMEMBERED_CLIENT_IDS = 50


async def handle_send_mail(req: Request) -> Response:
    return await _send(req, "ComposeMail:SendMail", None)


async def handle_smart_reply(req: Request) -> Response:
    return await _send(req, "ComposeMail:SmartReply", compose.reply)


async def handle_smart_forward(req: Request) -> Response:
    return await _send(req, "ComposeMail:SmartForward", compose.forward)


async def _send(req: Request, root: str, combine) -> Response:
    http_error = 500   # 12.1 learns of a failure from the HTTP status only
    if req.v >= (14, 0):
        if req.body is None or req.body.tag != root:
            raise CommandError(INVALID_CONTENT)
        mime = _mime(req.body)
        client_id = req.body.findtext("ComposeMail:ClientId") or ""
        save = req.body.find("ComposeMail:SaveInSentItems") is not None
        replace = req.body.find("ComposeMail:ReplaceMime") is not None
        source = req.body.find("ComposeMail:Source")
        folder_id = source.findtext("ComposeMail:FolderId") if source is not None else None
        item = (source.findtext("ComposeMail:ItemId") or source.findtext("ComposeMail:LongId")
                if source is not None else None)
    else:
        mime = req.raw_body
        client_id = ""
        save = req.params.get("SaveInSent", "").upper() == "T"
        replace = False
        folder_id, item = req.params.get("CollectionId"), req.params.get("ItemId")
    if not mime:
        raise CommandError(INVALID_MIME, http_status=http_error)

    sent_ids: list[str] = list(req.device.state.get("sent") or [])
    if client_id and client_id in sent_ids:
        raise CommandError(MESSAGE_PREVIOUSLY_SENT, http_status=http_error)

    original = None
    if combine is not None:
        original = await _original(req, folder_id, item)
        if original is None:
            raise CommandError(ITEM_NOT_FOUND, http_status=http_error)
    raw = mime
    if original is not None and not replace:
        try:
            raw = combine(mime, original[0])
        except Exception:   # a client MIME body the email package cannot rework
            raise CommandError(MESSAGE_REPLY_FAILED, http_status=http_error) from None

    recipients = compose.envelope_recipients(raw)
    if not recipients:
        raise CommandError(MESSAGE_HAS_NO_RECIPIENT, http_status=http_error)
    try:
        await submit(req.store, req.account, req.account.email, recipients,
                     compose.strip_bcc(raw), config=req.ctx.config, save_to_sent=save)
    except SubmissionRefused:
        raise CommandError(MAIL_SUBMISSION_FAILED, http_status=http_error) from None
    except QuotaExceeded:
        raise CommandError(MAILBOX_QUOTA_EXCEEDED, http_status=http_error) from None

    if original is not None:
        folder, uid = original[1], original[2]
        flag = ANSWERED if root == "ComposeMail:SmartReply" else FORWARDED
        try:
            await req.store.store_flags(req.account.id, folder.source_id, [uid], "add", [flag])
        except StoreError:
            pass   # sent; only the marker is missing
    if client_id:
        sent_ids = (sent_ids + [client_id])[-REMEMBERED_CLIENT_IDS:]
        await req.store.eas_update_device(req.account.id, req.device.device_id,
                                          state={**req.device.state, "sent": sent_ids})
    return Response(200)


def _mime(body: Element) -> bytes | None:
    el = body.find("ComposeMail:Mime")
    if el is None or el.text is None:
        return None
    return el.text if isinstance(el.text, bytes) else el.text.encode("utf-8")


async def _original(req: Request, folder_id: str | None, item: str | None):
    """(raw bytes, folder, uid) of the message replied to or forwarded."""
    ids = split_item_id(item or "")
    if ids is None:
        return None
    folder = await hierarchy.resolve(req.store, req.account, folder_id or ids[0])
    if folder is None or folder.source != EAS_SOURCE_MAILBOX or not ids[1].isdigit():
        return None
    rows = await req.store.fetch(req.account.id, folder.source_id, [int(ids[1])])
    if not rows:
        return None
    return await req.store.read_blob(rows[0].blob), folder, rows[0].uid
