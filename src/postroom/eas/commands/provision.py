"""Provision (MS-ASPROV §3.2.5): the two-step policy key handshake and remote wipe.

Step one sends the domain's policy with a temporary key; the device acknowledges it with that
key and gets the final one, which it then sends in X-MS-PolicyKey on every request. A wipe the
admin requested (``postroom device wipe``) is answered here with RemoteWipe (or, 16.1,
AccountOnlyRemoteWipe); the device's acknowledgement is recorded and the device blocked.
"""

from __future__ import annotations

import secrets

from postroom.eas.protocol import CommandError, Request
from postroom.eas.wbxml import E, Element
from postroom.store.api import (ACCESS_BLOCKED, POLICY_PENDING, POLICY_PROVISIONED,
                                WIPE_ACCOUNT_REQUESTED, WIPE_DONE, WIPE_REQUESTED)

POLICY_TYPE = "MS-EAS-Provisioning-WBXML"

# Provision Status (MS-ASPROV §2.2.2.54.1 and .2)
OK = 1
PROTOCOL_ERROR = 2
GENERAL_ERROR = 3
POLICY_UNKNOWN_TYPE = 3
POLICY_WRONG_KEY = 5

# The EASProvisionDoc in schema order (MS-ASPROV §2.2.2.27): an open device, as Exchange's
# default policy; ``[eas] policy`` and ``[eas.domain_policies."domain"]`` override values.
DEFAULT_POLICY: dict[str, int] = {
    "DevicePasswordEnabled": 0, "AlphanumericDevicePasswordRequired": 0,
    "PasswordRecoveryEnabled": 0, "RequireStorageCardEncryption": 0, "AttachmentsEnabled": 1,
    "MinDevicePasswordLength": 4, "MaxInactivityTimeDeviceLock": 900,
    "MaxDevicePasswordFailedAttempts": 8, "AllowSimpleDevicePassword": 1,
    "DevicePasswordExpiration": 0, "DevicePasswordHistory": 0, "AllowStorageCard": 1,
    "AllowCamera": 1, "RequireDeviceEncryption": 0, "AllowUnsignedApplications": 1,
    "AllowUnsignedInstallationPackages": 1, "MinDevicePasswordComplexCharacters": 1,
    "AllowWiFi": 1, "AllowTextMessaging": 1, "AllowPOPIMAPEmail": 1, "AllowBluetooth": 2,
    "AllowIrDA": 1, "RequireManualSyncWhenRoaming": 0, "AllowDesktopSync": 1,
    "MaxCalendarAgeFilter": 0, "AllowHTMLEmail": 1, "MaxEmailAgeFilter": 0,
    "MaxEmailBodyTruncationSize": -1, "MaxEmailHTMLBodyTruncationSize": -1,
    "RequireSignedSMIMEMessages": 0, "RequireEncryptedSMIMEMessages": 0,
    "RequireSignedSMIMEAlgorithm": 0, "RequireEncryptionSMIMEAlgorithm": 0,
    "AllowSMIMEEncryptionAlgorithmNegotiation": 2, "AllowSMIMESoftCerts": 1,
    "AllowBrowser": 1, "AllowConsumerEmail": 1, "AllowRemoteDesktop": 1,
    "AllowInternetSharing": 1,
}
# Elements that may be sent empty when their value means "no limit".
_EMPTY_WHEN_NEGATIVE = {"MaxEmailBodyTruncationSize", "MaxEmailHTMLBodyTruncationSize"}


def policy_for(settings, email: str) -> dict[str, int]:
    policy = dict(DEFAULT_POLICY)
    policy.update(settings.policy)
    policy.update(settings.domain_policies.get(email.rpartition("@")[2], {}))
    return policy


def provision_doc(policy: dict[str, int]) -> Element:
    children = []
    for name, value in policy.items():
        tag = f"Provision:{name}"
        if name in _EMPTY_WHEN_NEGATIVE and value < 0:
            children.append(E(tag))
        else:
            children.append(E(tag, value))
    return E("Provision:EASProvisionDoc", *children)


def _policy_answer(info_answer: Element | None, policy_type: str, status: int,
                   *policy: Element) -> Element:
    return E("Provision:Provision", info_answer, E("Provision:Status", OK),
             E("Provision:Policies", E("Provision:Policy", E("Provision:PolicyType", policy_type),
                                       E("Provision:Status", status), *policy)))


def _new_key() -> int:
    return secrets.randbelow(0x7FFFFFFE) + 1


async def handle_provision(req: Request) -> Element:
    body = req.body
    if body is None or body.tag != "Provision:Provision":
        raise CommandError(PROTOCOL_ERROR)
    store, device = req.store, req.device
    info_answer = None
    info = body.find("Settings:DeviceInformation/Settings:Set")
    if info is not None:
        values = {c.name: c.text if isinstance(c.text, str) else "" for c in info.children
                  if not c.children}
        await store.eas_update_device(req.account.id, device.device_id, info=values)
        info_answer = E("Settings:DeviceInformation", E("Settings:Status", 1))

    # The device acknowledges a wipe (MS-ASPROV §3.1.5.1.2.1).
    for tag in ("Provision:RemoteWipe", "Provision:AccountOnlyRemoteWipe"):
        ack = body.find(tag)
        if ack is not None:
            if device.wipe in (WIPE_REQUESTED, WIPE_ACCOUNT_REQUESTED):
                await store.eas_update_device(req.account.id, device.device_id, wipe=WIPE_DONE,
                                              access=ACCESS_BLOCKED)
            return E("Provision:Provision", E("Provision:Status", OK))

    if device.wipe in (WIPE_REQUESTED, WIPE_ACCOUNT_REQUESTED):
        account_only = device.wipe == WIPE_ACCOUNT_REQUESTED and req.v >= (16, 1)
        return E("Provision:Provision", info_answer, E("Provision:Status", OK),
                 E("Provision:AccountOnlyRemoteWipe" if account_only else "Provision:RemoteWipe"))

    policy = body.find("Provision:Policies/Provision:Policy")
    if policy is None:
        raise CommandError(PROTOCOL_ERROR)
    policy_type = policy.findtext("Provision:PolicyType", "")
    if policy_type != POLICY_TYPE:
        return _policy_answer(info_answer, policy_type, POLICY_UNKNOWN_TYPE)

    acked_key = policy.findtext("Provision:PolicyKey")
    if acked_key is None:
        # Step one: the policy and a temporary key.
        key = _new_key()
        await store.eas_update_device(req.account.id, device.device_id, policy_key=key,
                                      policy_state=POLICY_PENDING)
        return _policy_answer(info_answer, POLICY_TYPE, OK, E("Provision:PolicyKey", key),
                              E("Provision:Data", provision_doc(policy_for(req.settings,
                                                                           req.account.email))))

    # Step two: the acknowledgement of the temporary key.
    if device.policy_state != POLICY_PENDING or acked_key != str(device.policy_key):
        return _policy_answer(info_answer, POLICY_TYPE, POLICY_WRONG_KEY)
    # Status 1 applied, 2 partially applied (MS-ASPROV §2.2.2.54.2); other values refuse it,
    # yet Exchange still grants a key for an "allow non-provisionable devices" policy.
    key = _new_key()
    await store.eas_update_device(req.account.id, device.device_id, policy_key=key,
                                  policy_state=POLICY_PROVISIONED)
    return _policy_answer(info_answer, POLICY_TYPE, OK, E("Provision:PolicyKey", key))
