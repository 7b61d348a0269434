"""Decoding our WBXML with Debian's libwbxml2-utils (``wbxml2xml -l ACTIVESYNC``): an
independent reader that the tests compare the encoder against."""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

WBXML2XML = shutil.which("wbxml2xml")
needs_libwbxml = pytest.mark.skipif(WBXML2XML is None, reason="libwbxml2-utils not installed")

# libwbxml names some tags differently from the MS-ASWBXML tables (same tokens).
LIBWBXML_NAMES = {
    "RTFTruncation": "RtfTruncation", "AssistantTelephoneNumber": "AssistantPhoneNumber",
    "AttOId": "Att0Id", "Reply-To": "ReplyTo", "FlagStatus": "Status",
    "Attendee_Email": "Email", "Attendee_Name": "Name", "Compressed_RTF": "CompressedRTF",
    "Calendar:DTStamp": "DtStamp", "Exception_Deleted": "Deleted",
    "Exception_StartTime": "ExceptionStartTime", "Organizer_Email": "OrganizerEmail",
    "Organizer_Name": "OrganizerName", "Attendee_Status": "AttendeeStatus",
    "Attendee_Type": "AttendeeType", "UTCDueDate": "UtcDueDate",
    "UTCStartDate": "UtcStartDate", "Recurrence_Start": "Start",
    "DeviceEncryptionEnabled": "RequireStorageCardEncryption", "SmtpAddress": "SMTPAddress",
    "MIME": "Mime", "RMOwner": "Owner", "ihsManagementInformation": "RightsManagementInformation",
}
LIBWBXML_NAMESPACES = {"Gal": "GAL"}
# Elements whose content libwbxml prints in base64.
LIBWBXML_BASE64 = {"AirSyncBase:Content", "ResolveRecipients:Data", "Search:ConversationId",
                   "GAL:Data", "ItemOperations:ConversationId", "ComposeMail:Mime",
                   "Email2:ConversationId", "Email2:ConversationIndex"}


def _local(ns: str, name: str) -> str:
    if f"{ns}:{name}" in LIBWBXML_NAMES:
        return LIBWBXML_NAMES[f"{ns}:{name}"]
    if name.startswith("Recurrence_"):
        return LIBWBXML_NAMES.get(name, name[len("Recurrence_"):])
    for prefix in ("Business", "Home", "Other"):
        for part in ("City", "Country", "PostalCode", "State", "Street"):
            if name == prefix + part:
                return f"{prefix}Address{part}"
    return LIBWBXML_NAMES.get(name, name)


def libwbxml_tree(data: bytes) -> list:
    """[tag, text-or-children] nested lists, tags as "Namespace:Name" in our spelling."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.wbxml", Path(d) / "out.xml"
        src.write_bytes(data)
        proc = subprocess.run([WBXML2XML, "-l", "ACTIVESYNC", "-o", str(dst), str(src)],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        text = dst.read_text()
    body = text.split("?>", 1)[1]
    body = body.split(">", 1)[1] if body.lstrip().startswith("<!DOCTYPE") else body

    def conv(el, ns_default="") -> list:
        ns, _, name = el.tag[1:].partition("}") if el.tag.startswith("{") else ("", "", el.tag)
        ns = LIBWBXML_NAMESPACES.get(ns.rstrip(":"), ns.rstrip(":")) or ns_default
        tag = f"{ns}:{_local(ns, name)}"
        kids = list(el)
        if kids:
            return [tag, [conv(k, ns) for k in kids]]
        if tag in LIBWBXML_BASE64:
            return [tag, base64.b64decode(el.text or "").decode("latin-1")]
        return [tag, el.text or ""]
    return conv(ET.fromstring(body))


def our_tree(el) -> list:
    if el.children:
        return [el.tag, [our_tree(c) for c in el.children]]
    if isinstance(el.text, bytes):
        return [el.tag, el.text.decode("latin-1")]
    return [el.tag, el.text or ""]
