"""ItemOperations (MS-ASCMD §2.2.1.10) and the 12.x GetAttachment command (§2.2.1.7).

Fetch serves a whole item (by CollectionId and ServerId, or by the LongId a Search returned) or
one attachment by its FileReference (``<folder>:<uid>:<part number>``, made in ``eas/email.py``),
optionally a byte Range, inline as base64 or as a part of a multipart answer when the client
accepts it (MS-ASCMD §2.2.1.10.1). EmptyFolderContents empties a mail folder.
"""

from __future__ import annotations

import base64
import struct

from postroom.eas import hierarchy
from postroom.eas import email as mail
from postroom.eas.hierarchy import split_item_id
from postroom.eas.items import adapter
from postroom.eas.protocol import CommandError, Request, Response
from postroom.eas.wbxml import E, Element, encode
from postroom.mail.message import Part
from postroom.mail.sections import UnknownEncoding, decode_part
from postroom.store.api import EAS_SOURCE_MAILBOX, FETCH_PARTS

# ItemOperations Status (MS-ASCMD §2.2.3.177.8)
OK = 1
PROTOCOL_ERROR = 2
SERVER_ERROR = 3
OBJECT_NOT_FOUND = 6
BAD_RANGE = 8
MULTIPART_TYPE = "application/vnd.ms-sync.multipart"


async def attachment(req: Request, file_reference: str) -> tuple[bytes, str] | None:
    """(decoded bytes, content type) of an attachment, or None."""
    folder_id, _, rest = file_reference.partition(":")
    uid, _, number = rest.partition(":")
    if not uid.isdigit() or not number:
        return None
    folder = await hierarchy.resolve(req.store, req.account, folder_id)
    if folder is None or folder.source != EAS_SOURCE_MAILBOX:
        return None
    rows = await req.store.fetch(req.account.id, folder.source_id, [int(uid)], [FETCH_PARTS])
    if not rows:
        return None
    part = Part.from_json(rows[0].parts).find(number)
    if part is None or part.children:
        return None
    raw = await req.store.read_blob(rows[0].blob)
    try:
        return decode_part(raw, part), part.content_type
    except UnknownEncoding:
        return raw[part.body_start:part.end], part.content_type


def _range(text: str | None, total: int) -> tuple[int, int] | None:
    if not text:
        return 0, total
    start, _, end = text.partition("-")
    if not start.isdigit() or not end.isdigit() or int(start) > int(end):
        return None
    return int(start), min(int(end) + 1, total)


async def handle_item_operations(req: Request) -> Element | Response:
    if req.body is None or req.body.tag != "ItemOperations:ItemOperations":
        raise CommandError(PROTOCOL_ERROR)
    parts: list[bytes] = []
    responses = []
    for op in req.body.children:
        if op.tag == "ItemOperations:Fetch":
            responses.append(await _fetch(req, op, parts))
        elif op.tag == "ItemOperations:EmptyFolderContents":
            responses.append(await _empty(req, op))
        else:
            raise CommandError(PROTOCOL_ERROR)
    root = E("ItemOperations:ItemOperations", E("ItemOperations:Status", OK),
             E("ItemOperations:Response", *responses))
    if not req.accept_multipart:
        return root
    # MS-ASCMD §2.2.1.10.1.1: PartsCount, then (offset, length) per part; part 0 the WBXML.
    chunks = [encode(root)] + parts
    header_len = 4 + 8 * len(chunks)
    out = bytearray(struct.pack("<i", len(chunks)))
    offset = header_len
    for c in chunks:
        out += struct.pack("<ii", offset, len(c))
        offset += len(c)
    for c in chunks:
        out += c
    return Response(200, bytes(out), MULTIPART_TYPE)


def _data(req: Request, data: bytes, parts: list[bytes]) -> Element:
    if req.accept_multipart:
        parts.append(data)
        return E("ItemOperations:Part", len(parts))
    return E("ItemOperations:Data", base64.b64encode(data).decode("ascii"))


async def _fetch(req: Request, op: Element, parts: list[bytes]) -> Element:
    store_name = op.findtext("ItemOperations:Store", "Mailbox")
    if store_name.lower() != "mailbox":
        return E("ItemOperations:Fetch", E("ItemOperations:Status", PROTOCOL_ERROR))
    options = op.find("ItemOperations:Options")
    file_ref = op.findtext("AirSyncBase:FileReference")
    if file_ref:
        found = await attachment(req, file_ref)
        if found is None:
            return E("ItemOperations:Fetch", E("ItemOperations:Status", OBJECT_NOT_FOUND),
                     E("AirSyncBase:FileReference", file_ref))
        data, content_type = found
        span = _range(options.findtext("ItemOperations:Range") if options else None, len(data))
        if span is None:
            return E("ItemOperations:Fetch", E("ItemOperations:Status", BAD_RANGE),
                     E("AirSyncBase:FileReference", file_ref))
        ranged = options is not None and options.find("ItemOperations:Range") is not None
        return E("ItemOperations:Fetch", E("ItemOperations:Status", OK),
                 E("AirSyncBase:FileReference", file_ref),
                 E("ItemOperations:Properties", E("AirSyncBase:ContentType", content_type),
                   E("ItemOperations:Range", f"{span[0]}-{max(span[0], span[1] - 1)}")
                   if ranged else None,
                   E("ItemOperations:Total", len(data)) if ranged else None,
                   _data(req, data[span[0]:span[1]], parts)))

    server_id = op.findtext("AirSync:ServerId") or op.findtext("Search:LongId") or ""
    collection_id = op.findtext("AirSync:CollectionId")
    ids = split_item_id(server_id)
    if ids is None or (collection_id and collection_id != ids[0]):
        return E("ItemOperations:Fetch", E("ItemOperations:Status", OBJECT_NOT_FOUND))
    folder = await hierarchy.resolve(req.store, req.account, ids[0])
    if folder is None:
        return E("ItemOperations:Fetch", E("ItemOperations:Status", OBJECT_NOT_FOUND))
    opts = mail.parse_options(options)
    if not opts.body and folder.source == EAS_SOURCE_MAILBOX:
        opts.body = [mail.BodyPreference(mail.BODY_PLAIN)]
    rendered = await adapter(folder).render(req, folder, [ids[1]], opts)
    data = rendered.get(ids[1])
    if data is None:
        return E("ItemOperations:Fetch", E("ItemOperations:Status", OBJECT_NOT_FOUND),
                 E("AirSync:ServerId", server_id))
    return E("ItemOperations:Fetch", E("ItemOperations:Status", OK),
             E("AirSync:CollectionId", folder.server_id), E("AirSync:ServerId", server_id),
             E("AirSync:Class", folder.cls), E("ItemOperations:Properties", *data.children))


async def _empty(req: Request, op: Element) -> Element:
    cid = op.findtext("AirSync:CollectionId", "")
    folder = await hierarchy.resolve(req.store, req.account, cid)
    if folder is None or folder.source != EAS_SOURCE_MAILBOX:
        return E("ItemOperations:EmptyFolderContents", E("ItemOperations:Status", OBJECT_NOT_FOUND),
                 E("AirSync:CollectionId", cid))
    uids = await req.store.uids(req.account.id, folder.source_id)
    if uids:
        await req.store.remove(req.account.id, folder.source_id, uids)
    return E("ItemOperations:EmptyFolderContents", E("ItemOperations:Status", OK),
             E("AirSync:CollectionId", cid))


async def handle_get_attachment(req: Request) -> Response:
    """12.x: GetAttachment&AttachmentName=<FileReference>, the bytes as the body."""
    found = await attachment(req, req.params.get("AttachmentName", ""))
    if found is None:
        return Response(500 if req.v < (14, 0) else 404)
    data, content_type = found
    return Response(200, data, content_type)
