"""GetItemEstimate (MS-ASCMD §2.2.1.9): how many changes the next Syncs would bring, per
collection, counted by the same store diff that Sync sends from."""

from __future__ import annotations

from postroom.eas import hierarchy
from postroom.eas.commands.sync import since_of
from postroom.eas.email import Options, parse_options
from postroom.eas.protocol import CommandError, Request
from postroom.eas.wbxml import E, Element

# GetItemEstimate Status (MS-ASCMD §2.2.3.177.6)
OK = 1
INVALID_COLLECTION = 2
NOT_PRIMED = 3
INVALID_SYNC_KEY = 4


async def handle_get_item_estimate(req: Request) -> Element:
    body = req.body
    if body is None or body.tag != "GetItemEstimate:GetItemEstimate":
        raise CommandError(INVALID_COLLECTION)
    container = body.find("GetItemEstimate:Collections")
    if container is None:
        raise CommandError(INVALID_COLLECTION)
    responses = []
    for coll in container.findall("GetItemEstimate:Collection"):
        cid = coll.findtext("GetItemEstimate:CollectionId", "")
        # 14.0+ puts SyncKey (AirSync page) in the collection; 12.1 too, next to FilterType.
        key = coll.findtext("AirSync:SyncKey")
        folder = await hierarchy.resolve(req.store, req.account, cid)
        status, estimate = OK, 0
        if folder is None:
            status = INVALID_COLLECTION
        else:
            state = await req.store.eas_sync_state(req.account.id, req.device.device_id, cid)
            if key == "0" or state is None:
                status = NOT_PRIMED
            elif key is not None and key not in (str(state.sync_key), str(state.previous_key)):
                status = INVALID_SYNC_KEY
            else:
                opts = parse_options(coll.find("AirSync:Options"),
                                     Options.from_json(state.data.get("options")))
                filter_type = coll.findtext("AirSync:FilterType")
                if filter_type and filter_type.isdigit():
                    opts.filter_type = int(filter_type)
                estimate = await req.store.eas_sync_count(
                    req.account.id, req.device.device_id, cid, folder.source, folder.source_id,
                    since_of(folder, opts))
        responses.append(E("GetItemEstimate:Response", E("GetItemEstimate:Status", status),
                           E("GetItemEstimate:Collection",
                             E("GetItemEstimate:CollectionId", cid),
                             E("GetItemEstimate:Estimate", estimate) if status == OK else None)))
    return E("GetItemEstimate:GetItemEstimate", *responses)
