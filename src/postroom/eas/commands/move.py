"""MoveItems (MS-ASCMD §2.2.1.12): move items between folders of one class. Status 3 carries
the item's new server id. The device already moved the item itself, so what it holds is updated
here and the next Sync of either folder does not send the move back."""

from __future__ import annotations

from postroom.eas import hierarchy
from postroom.eas.hierarchy import item_id, split_item_id
from postroom.eas.protocol import CommandError, Request
from postroom.eas.wbxml import E, Element
from postroom.store.api import EAS_SOURCE_MAILBOX, NotFound, PreconditionFailed, StoreError

# MoveItems Status (MS-ASCMD §2.2.3.177.9)
INVALID_SOURCE = 1
INVALID_DESTINATION = 2
SUCCESS = 3
SAME_FOLDER = 4
FAILURE = 5


async def handle_move_items(req: Request) -> Element:
    if req.body is None or req.body.tag != "Move:MoveItems":
        raise CommandError(FAILURE)
    responses = [await _move_one(req, m) for m in req.body.findall("Move:Move")]
    return E("Move:MoveItems", *responses)


async def _move_one(req: Request, move: Element) -> Element:
    src_msg = move.findtext("Move:SrcMsgId", "")
    store, acc, dev = req.store, req.account, req.device.device_id

    def answer(status: int, dst: str | None = None) -> Element:
        return E("Move:Response", E("Move:SrcMsgId", src_msg), E("Move:Status", status),
                 E("Move:DstMsgId", dst) if dst else None)

    src = await hierarchy.resolve(store, acc, move.findtext("Move:SrcFldId"))
    parts = split_item_id(src_msg)
    if src is None or parts is None or parts[0] != src.server_id:
        return answer(INVALID_SOURCE)
    dst = await hierarchy.resolve(store, acc, move.findtext("Move:DstFldId"))
    if dst is None or dst.source != src.source or dst.cls != src.cls:
        return answer(INVALID_DESTINATION)
    if dst.server_id == src.server_id:
        return answer(SAME_FOLDER)
    key = parts[1]
    try:
        if src.source == EAS_SOURCE_MAILBOX:
            if not key.isdigit():
                return answer(INVALID_SOURCE)
            result = await store.move(acc.id, src.source_id, [int(key)], dst.source_id)
            if not result.pairs:
                return answer(INVALID_SOURCE)
            new_key = str(result.pairs[0][1])
            modseq = result.modseq
        else:
            item = await store.move_item(acc.id, src.source_id, key, dst.source_id, key,
                                         overwrite=False)
            new_key, modseq = item.name, item.modseq
    except (NotFound, PreconditionFailed):
        return answer(INVALID_SOURCE)
    except StoreError:
        return answer(FAILURE)
    await store.eas_set_held(acc.id, dev, src.server_id, {key: None})
    await store.eas_set_held(acc.id, dev, dst.server_id, {new_key: modseq})
    return answer(SUCCESS, item_id(dst.server_id, new_key))
