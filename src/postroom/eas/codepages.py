"""The ActiveSync WBXML code pages: tag tokens of code pages 0 to 25 (MS-ASWBXML §2.1.2.1).

Each page is one XML namespace of EAS ("AirSync", "Email", ...). A tag is named in this package
as "Namespace:Tag"; :data:`TOKENS` maps that name to (page, token) for the encoder and
:data:`TAGS` maps (page, token) back for the decoder. Names follow the spec's tables; where two
pages use one local name (Status, Body, ...) the namespace tells them apart, which is why the
encoder never guesses a page from a bare name.
"""

from __future__ import annotations

# page number -> (namespace, tags from token 0x05 on; None marks an unused token)
_PAGES: dict[int, tuple[str, list[str | None]]] = {
    0: ("AirSync", [
        "Sync", "Responses", "Add", "Change", "Delete", "Fetch", "SyncKey", "ClientId",
        "ServerId", "Status", "Collection", "Class", "Version", "CollectionId", "GetChanges",
        "MoreAvailable", "WindowSize", "Commands", "Options", "FilterType", "Truncation",
        "RtfTruncation", "Conflict", "Collections", "ApplicationData", "DeletesAsMoves",
        "NotifyGUID", "Supported", "SoftDelete", "MIMESupport", "MIMETruncation", "Wait",
        "Limit", "Partial", "ConversationMode", "MaxItems", "HeartbeatInterval"]),
    1: ("Contacts", [
        "Anniversary", "AssistantName", "AssistantPhoneNumber", "Birthday", "Body", "BodySize",
        "BodyTruncated", "Business2PhoneNumber", "BusinessAddressCity", "BusinessAddressCountry",
        "BusinessAddressPostalCode", "BusinessAddressState", "BusinessAddressStreet",
        "BusinessFaxNumber", "BusinessPhoneNumber", "CarPhoneNumber", "Categories", "Category",
        "Children", "Child", "CompanyName", "Department", "Email1Address", "Email2Address",
        "Email3Address", "FileAs", "FirstName", "Home2PhoneNumber", "HomeAddressCity",
        "HomeAddressCountry", "HomeAddressPostalCode", "HomeAddressState", "HomeAddressStreet",
        "HomeFaxNumber", "HomePhoneNumber", "JobTitle", "LastName", "MiddleName",
        "MobilePhoneNumber", "OfficeLocation", "OtherAddressCity", "OtherAddressCountry",
        "OtherAddressPostalCode", "OtherAddressState", "OtherAddressStreet", "PagerNumber",
        "RadioPhoneNumber", "Spouse", "Suffix", "Title", "WebPage", "YomiCompanyName",
        "YomiFirstName", "YomiLastName", "CompressedRTF", "Picture", "Alias", "WeightedRank"]),
    2: ("Email", [
        "Attachment", "Attachments", "AttName", "AttSize", "Att0Id", "AttMethod", "AttRemoved",
        "Body", "BodySize", "BodyTruncated", "DateReceived", "DisplayName", "DisplayTo",
        "Importance", "MessageClass", "Subject", "Read", "To", "Cc", "From", "ReplyTo",
        "AllDayEvent", "Categories", "Category", "DTStamp", "EndTime", "InstanceType",
        "BusyStatus", "Location", "MeetingRequest", "Organizer", "RecurrenceId", "Reminder",
        "ResponseRequested", "Recurrences", "Recurrence", "Type", "Until",
        "Occurrences", "Interval", "DayOfWeek",
        "DayOfMonth", "WeekOfMonth", "MonthOfYear",
        "StartTime", "Sensitivity", "TimeZone", "GlobalObjId", "ThreadTopic", "MIMEData",
        "MIMETruncated", "MIMESize", "InternetCPID", "Flag", "Status", "ContentClass",
        "FlagType", "CompleteTime", "DisallowNewTimeProposal"]),
    3: ("AirNotify", [
        "Notify", "Notification", "Version", "LifeTime", "DeviceInfo", "Enable", "Folder",
        "ServerId", "DeviceAddress", "ValidCarrierProfiles", "CarrierProfile", "Status",
        "Responses", "Devices", "Device", "Id", "Expiry", "NotifyGUID", "DeviceFriendlyName"]),
    4: ("Calendar", [
        "TimeZone", "AllDayEvent", "Attendees", "Attendee", "Email", "Name", "Body",
        "BodyTruncated", "BusyStatus", "Categories", "Category", "CompressedRTF", "DtStamp",
        "EndTime", "Exception", "Exceptions", "Deleted", "ExceptionStartTime", "Location",
        "MeetingStatus", "OrganizerEmail", "OrganizerName", "Recurrence", "Type", "Until",
        "Occurrences", "Interval", "DayOfWeek", "DayOfMonth", "WeekOfMonth", "MonthOfYear",
        "Reminder", "Sensitivity", "Subject", "StartTime", "UID", "AttendeeStatus",
        "AttendeeType", "Attachment", "Attachments", "AttName", "AttSize", "AttOid",
        "AttMethod", "AttRemoved", "DisplayName", "DisallowNewTimeProposal",
        "ResponseRequested", "AppointmentReplyTime", "ResponseType", "CalendarType",
        "IsLeapMonth", "FirstDayOfWeek", "OnlineMeetingConfLink", "OnlineMeetingExternalLink",
        "ClientUid"]),
    5: ("Move", [
        "MoveItems", "Move", "SrcMsgId", "SrcFldId", "DstFldId", "Response", "Status",
        "DstMsgId"]),
    6: ("GetItemEstimate", [
        "GetItemEstimate", "Version", "Collections", "Collection", "Class", "CollectionId",
        "DateTime", "Estimate", "Response", "Status"]),
    7: ("FolderHierarchy", [
        "Folders", "Folder", "DisplayName", "ServerId", "ParentId", "Type", "Response",
        "Status", "ContentClass", "Changes", "Add", "Delete", "Update", "SyncKey",
        "FolderCreate", "FolderDelete", "FolderUpdate", "FolderSync", "Count", "Version"]),
    8: ("MeetingResponse", [
        "CalendarId", "CollectionId", "MeetingResponse", "RequestId", "Request", "Result",
        "Status", "UserResponse", "Version", "InstanceId", None, "ProposedStartTime",
        "ProposedEndTime", "SendResponse"]),
    9: ("Tasks", [
        "Body", "BodySize", "BodyTruncated", "Categories", "Category", "Complete",
        "DateCompleted", "DueDate", "UtcDueDate", "Importance", "Recurrence", "Type", "Start",
        "Until", "Occurrences", "Interval", "DayOfMonth", "DayOfWeek", "WeekOfMonth",
        "MonthOfYear", "Regenerate", "DeadOccur", "ReminderSet", "ReminderTime", "Sensitivity",
        "StartDate", "UtcStartDate", "Subject", "CompressedRTF", "OrdinalDate",
        "SubOrdinalDate", "CalendarType", "IsLeapMonth", "FirstDayOfWeek"]),
    10: ("ResolveRecipients", [
        "ResolveRecipients", "Response", "Status", "Type", "Recipient", "DisplayName",
        "EmailAddress", "Certificates", "Certificate", "MiniCertificate", "Options", "To",
        "CertificateRetrieval", "RecipientCount", "MaxCertificates", "MaxAmbiguousRecipients",
        "CertificateCount", "Availability", "StartTime", "EndTime", "MergedFreeBusy",
        "Picture", "MaxSize", "Data", "MaxPictures"]),
    11: ("ValidateCert", [
        "ValidateCert", "Certificates", "Certificate", "CertificateChain", "CheckCRL",
        "Status"]),
    12: ("Contacts2", [
        "CustomerId", "GovernmentId", "IMAddress", "IMAddress2", "IMAddress3", "ManagerName",
        "CompanyMainPhone", "AccountName", "NickName", "MMS"]),
    13: ("Ping", [
        "Ping", "AutdState", "Status", "HeartbeatInterval", "Folders", "Folder", "Id", "Class",
        "MaxFolders"]),
    14: ("Provision", [
        "Provision", "Policies", "Policy", "PolicyType", "PolicyKey", "Data", "Status",
        "RemoteWipe", "EASProvisionDoc", "DevicePasswordEnabled",
        "AlphanumericDevicePasswordRequired", "RequireStorageCardEncryption",
        "PasswordRecoveryEnabled", "DocumentBrowseEnabled", "AttachmentsEnabled",
        "MinDevicePasswordLength", "MaxInactivityTimeDeviceLock",
        "MaxDevicePasswordFailedAttempts", "MaxAttachmentSize", "AllowSimpleDevicePassword",
        "DevicePasswordExpiration", "DevicePasswordHistory", "AllowStorageCard", "AllowCamera",
        "RequireDeviceEncryption", "AllowUnsignedApplications",
        "AllowUnsignedInstallationPackages", "MinDevicePasswordComplexCharacters", "AllowWiFi",
        "AllowTextMessaging", "AllowPOPIMAPEmail", "AllowBluetooth", "AllowIrDA",
        "RequireManualSyncWhenRoaming", "AllowDesktopSync", "MaxCalendarAgeFilter",
        "AllowHTMLEmail", "MaxEmailAgeFilter", "MaxEmailBodyTruncationSize",
        "MaxEmailHTMLBodyTruncationSize", "RequireSignedSMIMEMessages",
        "RequireEncryptedSMIMEMessages", "RequireSignedSMIMEAlgorithm",
        "RequireEncryptionSMIMEAlgorithm", "AllowSMIMEEncryptionAlgorithmNegotiation",
        "AllowSMIMESoftCerts", "AllowBrowser", "AllowConsumerEmail", "AllowRemoteDesktop",
        "AllowInternetSharing", "UnapprovedInROMApplicationList", "ApplicationName",
        "ApprovedApplicationList", "Hash", "AccountOnlyRemoteWipe"]),
    15: ("Search", [
        "Search", None, "Store", "Name", "Query", "Options", "Range", "Status", "Response",
        "Result", "Properties", "Total", "EqualTo", "Value", "And", "Or", "FreeText", None,
        "DeepTraversal", "LongId", "RebuildResults", "LessThan", "GreaterThan", None, None,
        "UserName", "Password", "ConversationId", "Picture", "MaxSize", "MaxPictures"]),
    16: ("GAL", [
        "DisplayName", "Phone", "Office", "Title", "Company", "Alias", "FirstName", "LastName",
        "HomePhone", "MobilePhone", "EmailAddress", "Picture", "Status", "Data"]),
    17: ("AirSyncBase", [
        "BodyPreference", "Type", "TruncationSize", "AllOrNone", None, "Body", "Data",
        "EstimatedDataSize", "Truncated", "Attachments", "Attachment", "DisplayName",
        "FileReference", "Method", "ContentId", "ContentLocation", "IsInline",
        "NativeBodyType", "ContentType", "Preview", "BodyPartPreference", "BodyPart", "Status",
        "Add", "Delete", "ClientId", "Content", "Location", "Annotation", "Street", "City",
        "State", "Country", "PostalCode", "Latitude", "Longitude", "Accuracy", "Altitude",
        "AltitudeAccuracy", "LocationUri", "InstanceId"]),
    18: ("Settings", [
        "Settings", "Status", "Get", "Set", "Oof", "OofState", "StartTime", "EndTime",
        "OofMessage", "AppliesToInternal", "AppliesToExternalKnown",
        "AppliesToExternalUnknown", "Enabled", "ReplyMessage", "BodyType", "DevicePassword",
        "Password", "DeviceInformation", "Model", "IMEI", "FriendlyName", "OS", "OSLanguage",
        "PhoneNumber", "UserInformation", "EmailAddresses", "SMTPAddress", "UserAgent",
        "EnableOutboundSMS", "MobileOperator", "PrimarySmtpAddress", "Accounts", "Account",
        "AccountId", "AccountName", "UserDisplayName", "SendDisabled", None,
        "RightsManagementInformation"]),
    19: ("DocumentLibrary", [
        "LinkId", "DisplayName", "IsFolder", "CreationDate", "LastModifiedDate", "IsHidden",
        "ContentLength", "ContentType"]),
    20: ("ItemOperations", [
        "ItemOperations", "Fetch", "Store", "Options", "Range", "Total", "Properties", "Data",
        "Status", "Response", "Version", "Schema", "Part", "EmptyFolderContents",
        "DeleteSubFolders", "UserName", "Password", "Move", "DstFldId", "ConversationId",
        "MoveAlways"]),
    21: ("ComposeMail", [
        "SendMail", "SmartForward", "SmartReply", "SaveInSentItems", "ReplaceMime", None,
        "Source", "FolderId", "ItemId", "LongId", "InstanceId", "Mime", "ClientId", "Status",
        "AccountId", None, "Forwardees", "Forwardee", "ForwardeeName", "ForwardeeEmail"]),
    22: ("Email2", [
        "UmCallerID", "UmUserNotes", "UmAttDuration", "UmAttOrder", "ConversationId",
        "ConversationIndex", "LastVerbExecuted", "LastVerbExecutionTime", "ReceivedAsBcc",
        "Sender", "CalendarType", "IsLeapMonth", "AccountId", "FirstDayOfWeek",
        "MeetingMessageType", None, "IsDraft", "Bcc", "Send"]),
    23: ("Notes", ["Subject", "MessageClass", "LastModifiedDate", "Categories", "Category"]),
    24: ("RightsManagement", [
        "RightsManagementSupport", "RightsManagementTemplates", "RightsManagementTemplate",
        "RightsManagementLicense", "EditAllowed", "ReplyAllowed", "ReplyAllAllowed",
        "ForwardAllowed", "ModifyRecipientsAllowed", "ExtractAllowed", "PrintAllowed",
        "ExportAllowed", "ProgrammaticAccessAllowed", "Owner", "ContentExpiryDate",
        "TemplateID", "TemplateName", "TemplateDescription", "ContentOwner",
        "RemoveRightsManagementDistribution"]),
    25: ("Find", [
        "Find", "SearchId", "ExecuteSearch", "MailBoxSearchCriterion", "Query", "Status",
        "FreeText", "Options", "Range", "DeepTraversal", None, None, "Response", "Result",
        "Properties", "Preview", "HasAttachments", "Total", "DisplayCc", "DisplayBcc",
        "GALSearchCriterion", "MaxPictures", "MaxSize", "Picture"]),
}

# Email's flag status is "Status" in the spec's table (token 0x3B); "Status" above keeps it
# apart from AirSync:Status in this package, and the codec writes the wire name.
_WIRE_NAMES = {("Email", "Status"): "Status"}

NAMESPACES: dict[int, str] = {page: ns for page, (ns, _) in _PAGES.items()}
PAGES: dict[str, int] = {ns: page for page, ns in NAMESPACES.items()}

TAGS: dict[tuple[int, int], str] = {}
TOKENS: dict[str, tuple[int, int]] = {}
for _page, (_ns, _names) in _PAGES.items():
    for _i, _name in enumerate(_names):
        if _name is None:
            continue
        TAGS[(_page, 0x05 + _i)] = f"{_ns}:{_name}"
        TOKENS[f"{_ns}:{_name}"] = (_page, 0x05 + _i)
del _page, _ns, _names, _i, _name
