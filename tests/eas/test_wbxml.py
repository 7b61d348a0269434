"""The WBXML codec: round trips, an independent decoder (libwbxml) agreeing with the encoder
on every tag of code pages 0-25, and malformed input refused with WBXMLError only."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from postroom.eas.codepages import PAGES, TOKENS
from postroom.eas.wbxml import E, Element, WBXMLError, decode, encode

from .wbxml_tool import libwbxml_tree, needs_libwbxml, our_tree

# Tags that libwbxml 0.11 does not know (newer than its tables).
UNKNOWN_TO_LIBWBXML = {"Find"}
UNKNOWN_TAGS = {"Calendar:Attachment", "Calendar:Attachments", "Calendar:AttName",
                "Calendar:AttSize", "Calendar:AttOid", "Calendar:AttMethod",
                "Calendar:AttRemoved", "Calendar:DisplayName", "MeetingResponse:ProposedStartTime",
                "MeetingResponse:ProposedEndTime", "Provision:AccountOnlyRemoteWipe"}


def test_folder_sync_request_bytes_match_the_spec_example():
    # MS-ASWBXML §3.1: FolderSync with SyncKey 0.
    data = encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0")))
    assert data == bytes.fromhex("03016a00" "0007" "56" "52" "03" "3000" "01" "01")


def test_round_trip_keeps_pages_text_and_opaque():
    tree = E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
             E("AirSync:SyncKey", "1"), E("AirSync:CollectionId", "m1"),
             E("AirSync:Commands", E("AirSync:Add", E("AirSync:ServerId", "m1:5"),
               E("AirSync:ApplicationData", E("Email:Subject", "Grüße"),
                 E("AirSyncBase:Body", E("AirSyncBase:Type", 4),
                   E("AirSyncBase:Data", b"\x00\xffraw")), E("Email:Read", True)))))))
    again = decode(encode(tree))
    assert again == tree
    assert again.findtext("AirSync:Collections/AirSync:Collection/AirSync:SyncKey") == "1"


def test_empty_elements_have_no_content_bit():
    data = encode(E("Ping:Ping", E("Ping:Folders")))
    assert decode(data).find("Ping:Folders").children == []


@needs_libwbxml
@pytest.mark.parametrize("namespace", sorted(PAGES))
def test_every_tag_of_the_page_reads_the_same_in_libwbxml(namespace):
    if namespace in UNKNOWN_TO_LIBWBXML:
        pytest.skip("libwbxml has no tables for this page")
    tags = [t for t in TOKENS if t.startswith(namespace + ":") and t not in UNKNOWN_TAGS]
    root = E("FolderHierarchy:FolderSync", *[E(t, f"v{i}") for i, t in enumerate(tags)])
    assert libwbxml_tree(encode(root)) == our_tree(root)


@needs_libwbxml
def test_nested_document_across_pages_reads_the_same_in_libwbxml():
    root = E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
             E("AirSync:Class", "Email"), E("AirSync:SyncKey", "7"),
             E("AirSync:Options", E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 2),
                                    E("AirSyncBase:TruncationSize", 5120))),
             E("AirSync:Commands", E("AirSync:Change", E("AirSync:ServerId", "m3:9"),
               E("AirSync:ApplicationData", E("Email:Read", 1),
                 E("Email:Flag", E("Email:Status", 2), E("Email:FlagType", "for Follow Up"),
                   E("Tasks:StartDate", "2026-01-01T00:00:00.000Z"))))))))
    assert libwbxml_tree(encode(root)) == our_tree(root)


def test_client_string_table_is_honoured():
    # header with a 4-byte string table "abc\0", SyncKey content as STR_T offset 0
    data = bytes([3, 1, 0x6A, 4]) + b"abc\x00" + bytes([0, 7, 0x56, 0x52, 0x83, 0, 1, 1])
    assert decode(data).findtext("FolderHierarchy:SyncKey") == "abc"


@pytest.mark.parametrize("data", [
    b"", b"\x03", b"\x03\x01\x6a", b"\x03\x01\x6a\x00", b"\x09\x01\x6a\x00\x45\x01",
    b"\x03\x01\x6a\x00\x56", b"\x03\x01\x6a\x00\x56\x03abc", b"\x03\x01\x6a\x00\x00\x63\x45\x01",
    b"\x03\x01\x6a\x00\xc5\x01", b"\x03\x01\x6a\x00\x45\x01\x45\x01", b"\x03\x01\x6a\x00\x01",
    b"\x03\x01\x6a\x00\x45\xc3\x85\x80\x01", b"\x03\x01\x6a\x00\x45\x03\xff\x00\x01",
    b"\x03\x01\x6a\x00\x45\x01trailing", b"\x03\x01\x6a\x00\x45\x83\x00\x01",
    b"\x03\x01\x6a\x00\x45\x43\x01", b"\x03\x01\x6a\x00\x05" + b"\x00",
    b"\x03\x01\x6a\x00\x45\x03a\x00\x45\x01\x01",
    b"\x03\x01\x6a\x00" + b"\x45" * 200 + b"\x01" * 200,
    b"\x03\x01\x6a\xff\xff\xff\xff\xff\x0f",
])
def test_malformed_wbxml_is_refused(data):
    with pytest.raises(WBXMLError):
        decode(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_decoder_never_fails_otherwise_on_random_bytes(data):
    try:
        decode(bytes([3, 1, 0x6A, 0]) + data)
    except WBXMLError:
        pass


_tags = st.sampled_from(sorted(TOKENS))
_elements = st.recursive(
    st.builds(lambda t, x: Element(t, [], x), _tags,
              st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_characters="\x00",
                                                                 blacklist_categories=("Cs",)),
                                           min_size=1, max_size=20),
                        st.binary(min_size=1, max_size=20))),
    lambda kids: st.builds(lambda t, c: Element(t, c, None), _tags,
                           st.lists(kids, min_size=1, max_size=4)),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(_elements)
def test_any_tree_round_trips(tree):
    assert decode(encode(tree)) == tree


@settings(max_examples=300, deadline=None)
@given(_elements, st.data())
def test_mutated_documents_fail_only_with_wbxml_error(tree, data):
    raw = bytearray(encode(tree))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    try:
        decode(bytes(raw))
    except WBXMLError:
        pass
