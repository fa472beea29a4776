/*
 * p2p.h for peergroup: the Windows Peer-to-Peer Grouping API (PeerGroupOpen and its family)
 * on Linux. Link with -lpeergroup_capi (libpeergroup_capi.so or libpeergroup_capi.a).
 *
 * Same function names, argument types, structures (field order), constants and HRESULT values
 * as Windows' p2p.h. Differences (event descriptors instead of event HANDLEs, no direct
 * connections, fields left NULL) are listed in docs/capi.md.
 *
 * Strings are UTF-16: WCHAR is 16 bits. In C write literals as u"..." (char16_t, <uchar.h>),
 * or compile with -fshort-wchar and write L"...".
 *
 * This file is checked by the crate's tests: every function and HRESULT here matches the
 * library, and every structure's size and field offsets match the Rust definitions.
 */
#ifndef PEERGROUP_P2P_H
#define PEERGROUP_P2P_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- base types ---- */

#ifdef __cplusplus
typedef char16_t WCHAR;
#else
typedef uint16_t WCHAR;
#endif
typedef const WCHAR *PCWSTR;
typedef WCHAR *PWSTR;
typedef int32_t HRESULT;
typedef uint8_t BYTE;
typedef BYTE *PBYTE;
typedef uint16_t WORD;
typedef uint32_t DWORD;
typedef uint32_t ULONG;
typedef uint64_t ULONGLONG;
typedef int32_t BOOL;
#ifndef FALSE
#define FALSE 0
#endif
#ifndef TRUE
#define TRUE 1
#endif
typedef void *PVOID;
typedef const void *LPCVOID;
typedef void *HANDLE;          /* on Linux: a file descriptor, (HANDLE)(intptr_t)fd */
typedef uintptr_t HCRYPTPROV;  /* only 0 is accepted */
typedef void *HGROUP;
typedef void *HPEERENUM;
typedef void *HPEEREVENT;
typedef void *HREGISTRATION;
typedef void *HRESOLUTION;
typedef struct sockaddr SOCKADDR; /* sockaddr_in or sockaddr_in6 behind it */

#define SUCCEEDED(hr) (((HRESULT)(hr)) >= 0)
#define FAILED(hr) (((HRESULT)(hr)) < 0)

typedef struct _GUID {
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;

/* 100-nanosecond intervals since 1601-01-01 UTC. */
typedef struct _FILETIME {
    DWORD dwLowDateTime;
    DWORD dwHighDateTime;
} FILETIME, *PFILETIME;

/* CryptoAPI's public key structure: opaque here; peergroup hands out NULL where one is due. */
typedef struct _CERT_PUBLIC_KEY_INFO CERT_PUBLIC_KEY_INFO, *PCERT_PUBLIC_KEY_INFO;

/* peergroup: the most bytes one PeerGroupSendData sends (4 MiB). */
#define PEERGROUP_MAX_DATA_LEN 4194304u

/* ---- HRESULTs ---- */

#define FACILITY_P2P 99
#define S_OK                                     ((HRESULT)0x00000000)
#define E_INVALIDARG                             ((HRESULT)0x80070057)
#define E_OUTOFMEMORY                            ((HRESULT)0x8007000E)
#define E_ACCESSDENIED                           ((HRESULT)0x80070005)
#define E_HANDLE                                 ((HRESULT)0x80070006)
#define E_UNEXPECTED                             ((HRESULT)0x8000FFFF)
#define E_FAIL                                   ((HRESULT)0x80004005)
#define ERROR_DELETE_PENDING                     ((HRESULT)0x8007012F)
#define ERROR_INVALID_DATA                       ((HRESULT)0x8007000D)
#define ERROR_BAD_CONFIGURATION                  ((HRESULT)0x8007064A)
#define ERROR_BUSY                               ((HRESULT)0x800700AA)
#define PEER_E_NOT_INITIALIZED                   ((HRESULT)0x80630002)
#define PEER_E_INVALID_DATABASE                  ((HRESULT)0x80630016)
#define PEER_E_TOO_MANY_ATTRIBUTES               ((HRESULT)0x80630017)
#define PEER_E_CLASSIFIER_TOO_LONG               ((HRESULT)0x80630201)
#define PEER_E_TOO_MANY_IDENTITIES               ((HRESULT)0x80630202)
#define PEER_E_NO_KEY_ACCESS                     ((HRESULT)0x80630203)
#define PEER_E_GROUPS_EXIST                      ((HRESULT)0x80630204)
#define PEER_E_RECORD_NOT_FOUND                  ((HRESULT)0x80630301)
#define PEER_E_DATABASE_ACCESSDENIED             ((HRESULT)0x80630302)
#define PEER_E_DBINITIALIZATION_FAILED           ((HRESULT)0x80630303)
#define PEER_E_MAX_RECORD_SIZE_EXCEEDED          ((HRESULT)0x80630304)
#define PEER_E_DATABASE_ALREADY_PRESENT          ((HRESULT)0x80630305)
#define PEER_E_DATABASE_NOT_PRESENT              ((HRESULT)0x80630306)
#define PEER_E_IDENTITY_NOT_FOUND                ((HRESULT)0x80630401)
#define PEER_E_EVENT_HANDLE_NOT_FOUND            ((HRESULT)0x80630501)
#define PEER_E_INVALID_SEARCH                    ((HRESULT)0x80630601)
#define PEER_E_INVALID_ATTRIBUTES                ((HRESULT)0x80630602)
#define PEER_E_INVITATION_NOT_TRUSTED            ((HRESULT)0x80630701)
#define PEER_E_CHAIN_TOO_LONG                    ((HRESULT)0x80630703)
#define PEER_E_INVALID_TIME_PERIOD               ((HRESULT)0x80630705)
#define PEER_E_CIRCULAR_CHAIN_DETECTED           ((HRESULT)0x80630706)
#define PEER_E_CERT_STORE_CORRUPTED              ((HRESULT)0x80630801)
#define PEER_E_NO_CLOUD                          ((HRESULT)0x80631001)
#define PEER_E_CLOUD_NAME_AMBIGUOUS              ((HRESULT)0x80631005)
#define PEER_E_INVALID_RECORD                    ((HRESULT)0x80632010)
#define PEER_E_NOT_AUTHORIZED                    ((HRESULT)0x80632020)
#define PEER_E_PASSWORD_DOES_NOT_MEET_POLICY     ((HRESULT)0x80632021)
#define PEER_E_INVALID_GROUP_PROPERTIES          ((HRESULT)0x80632040)
#define PEER_E_INVALID_PEER_NAME                 ((HRESULT)0x80632050)
#define PEER_E_INVALID_CLASSIFIER                ((HRESULT)0x80632060)
#define PEER_E_INVALID_FRIENDLY_NAME             ((HRESULT)0x80632070)
#define PEER_E_INVALID_ROLE_PROPERTY             ((HRESULT)0x80632071)
#define PEER_E_INVALID_RECORD_EXPIRATION         ((HRESULT)0x80632080)
#define PEER_E_INVALID_CREDENTIAL_INFO           ((HRESULT)0x80632081)
#define PEER_E_INVALID_CREDENTIAL                ((HRESULT)0x80632082)
#define PEER_E_INVALID_RECORD_SIZE               ((HRESULT)0x80632083)
#define PEER_E_UNSUPPORTED_VERSION               ((HRESULT)0x80632090)
#define PEER_E_GROUP_NOT_READY                   ((HRESULT)0x80632091)
#define PEER_E_GROUP_IN_USE                      ((HRESULT)0x80632092)
#define PEER_E_INVALID_GROUP                     ((HRESULT)0x80632093)
#define PEER_E_IDENTITY_DELETED                  ((HRESULT)0x806320A0)
#define PEER_E_SERVICE_NOT_AVAILABLE             ((HRESULT)0x806320A1)
#define PEER_E_CONNECTION_NOT_FOUND              ((HRESULT)0x80630103)
#define PEER_E_CONNECT_SELF                      ((HRESULT)0x80630106)
#define PEER_E_CONNECTION_FAILED                 ((HRESULT)0x80630109)
#define PEER_E_CONNECTION_NOT_AUTHENTICATED      ((HRESULT)0x8063010A)
#define PEER_E_CONNECTION_REFUSED                ((HRESULT)0x8063010B)
/* Reasons in hrConnectionFailedReason (PEER_GROUP_EVENT_CONNECTION_FAILED). */
#define PEER_E_NO_MEMBERS_FOUND                  ((HRESULT)0x80632094)
#define PEER_E_NO_MEMBER_CONNECTIONS             ((HRESULT)0x80632095)
#define PEER_E_UNABLE_TO_LISTEN                  ((HRESULT)0x80632096)
#define PEER_E_NO_MORE                           ((HRESULT)0x80634003)
#define PEER_E_NOT_FOUND                         ((HRESULT)0x80070490)
#define PEER_E_DISK_FULL                         ((HRESULT)0x80070070)
#define PEER_E_ALREADY_EXISTS                    ((HRESULT)0x800700B7)
#define PEER_E_INVALID_IDENTITY                  ((HRESULT)0x80072CEF)
#define PEER_S_NO_EVENT_DATA                     ((HRESULT)0x00630002)
#define PEER_S_NO_CONNECTIVITY                   ((HRESULT)0x00630005)
#define PEER_S_ALREADY_A_MEMBER                  ((HRESULT)0x00630006)
#define PEER_S_ALREADY_CONNECTED                 ((HRESULT)0x00632000)
#define NTE_BAD_KEY                              ((HRESULT)0x80090003)
#define NTE_BAD_KEYSET                           ((HRESULT)0x80090016)
#define NTE_BAD_SIGNATURE                        ((HRESULT)0x80090006)
#define NTE_FAIL                                 ((HRESULT)0x80090020)

/* ---- versions and enumerations ---- */

#define PEER_GROUP_VERSION 0x0101 /* MAKEWORD(1, 1) */

/* PEER_GROUP_ISSUE_CREDENTIAL_FLAGS */
#define PEER_GROUP_STORE_CREDENTIALS 0x1

typedef enum peer_group_event_type_tag {
    PEER_GROUP_EVENT_STATUS_CHANGED = 1,
    PEER_GROUP_EVENT_PROPERTY_CHANGED = 2,
    PEER_GROUP_EVENT_RECORD_CHANGED = 3,
    PEER_GROUP_EVENT_DIRECT_CONNECTION = 4,
    PEER_GROUP_EVENT_NEIGHBOR_CONNECTION = 5,
    PEER_GROUP_EVENT_INCOMING_DATA = 6,
    PEER_GROUP_EVENT_MEMBER_CHANGED = 8,
    PEER_GROUP_EVENT_CONNECTION_FAILED = 10,
    PEER_GROUP_EVENT_AUTHENTICATION_FAILED = 11,
    /* peergroup extension: events were lost (this process fell behind the pruned change feed,
     * or the registration left too many events unread); read again what the registration
     * follows. No data. Delivered to every registration; never registered for. */
    PEER_GROUP_EVENT_RESYNC = 0x1000
} PEER_GROUP_EVENT_TYPE;

typedef enum peer_group_status_tag {
    PEER_GROUP_STATUS_LISTENING = 0x0001,
    PEER_GROUP_STATUS_HAS_CONNECTIONS = 0x0002
} PEER_GROUP_STATUS;

typedef enum peer_group_property_flags_tag {
    PEER_MEMBER_DATA_OPTIONAL = 0x0001,
    PEER_DISABLE_PRESENCE = 0x0002,
    PEER_DEFER_EXPIRATION = 0x0004
} PEER_GROUP_PROPERTY_FLAGS;

typedef enum peer_group_authentication_scheme_tag {
    PEER_GROUP_GMC_AUTHENTICATION = 0x00000001,
    PEER_GROUP_PASSWORD_AUTHENTICATION = 0x00000002
} PEER_GROUP_AUTHENTICATION_SCHEME;

typedef enum peer_member_flags_tag {
    PEER_MEMBER_PRESENT = 0x0001
} PEER_MEMBER_FLAGS;

typedef enum peer_member_change_type_tag {
    PEER_MEMBER_CONNECTED = 1,
    PEER_MEMBER_DISCONNECTED = 2,
    PEER_MEMBER_UPDATED = 3,
    PEER_MEMBER_JOINED = 4,
    PEER_MEMBER_LEFT = 5
} PEER_MEMBER_CHANGE_TYPE;

typedef enum peer_record_change_type_tag {
    PEER_RECORD_ADDED = 1,
    PEER_RECORD_UPDATED = 2,
    PEER_RECORD_DELETED = 3,
    PEER_RECORD_EXPIRED = 4
} PEER_RECORD_CHANGE_TYPE;

typedef enum peer_record_flags_tag {
    PEER_RECORD_FLAG_AUTOREFRESH = 0x0001,
    PEER_RECORD_FLAG_DELETED = 0x0002
} PEER_RECORD_FLAGS;

typedef enum peer_connection_status_tag {
    PEER_CONNECTED = 1,
    PEER_DISCONNECTED = 2,
    PEER_CONNECTION_FAILED = 3
} PEER_CONNECTION_STATUS;

typedef enum peer_connection_flags_tag {
    PEER_CONNECTION_NEIGHBOR = 0x0001,
    PEER_CONNECTION_DIRECT = 0x0002
} PEER_CONNECTION_FLAGS;

typedef enum _PNRP_SCOPE {
    PNRP_SCOPE_ANY = 0,
    PNRP_GLOBAL_SCOPE = 1,
    PNRP_SITE_LOCAL_SCOPE = 2,
    PNRP_LINK_LOCAL_SCOPE = 3
} PNRP_SCOPE;

typedef enum _PNRP_CLOUD_FLAGS {
    PNRP_CLOUD_NO_FLAGS = 0,
    PNRP_CLOUD_NAME_LOCAL = 1
} PNRP_CLOUD_FLAGS;

/* ---- structures ---- */

typedef struct peer_version_data_tag {
    WORD wVersion;
    WORD wHighestVersion;
} PEER_VERSION_DATA, *PPEER_VERSION_DATA;

typedef struct peer_data_tag {
    ULONG cbData;
    PBYTE pbData;
} PEER_DATA, *PPEER_DATA;
typedef const PEER_DATA *PCPEER_DATA;

typedef GUID PEER_ROLE_ID;

typedef struct peer_group_properties_tag {
    DWORD dwSize;
    DWORD dwFlags;
    PWSTR pwzCloud;
    PWSTR pwzClassifier;
    PWSTR pwzGroupPeerName;
    PWSTR pwzCreatorPeerName;
    PWSTR pwzFriendlyName;
    PWSTR pwzComment;
    ULONG ulMemberDataLifetime;
    ULONG ulPresenceLifetime;
    DWORD dwAuthenticationSchemes;
    PWSTR pwzGroupPassword;
    PEER_ROLE_ID groupPasswordRole;
} PEER_GROUP_PROPERTIES, *PPEER_GROUP_PROPERTIES;

typedef struct peer_record_tag {
    DWORD dwSize;
    GUID type;
    GUID id;
    DWORD dwVersion;
    DWORD dwFlags;
    PWSTR pwzCreatorId;
    PWSTR pwzModifiedById;
    PWSTR pwzAttributes;
    FILETIME ftCreation;
    FILETIME ftExpiration;
    FILETIME ftLastModified;
    PEER_DATA securityData;
    PEER_DATA data;
} PEER_RECORD, *PPEER_RECORD;

/* IPv6; an IPv4 address is IPv4-mapped (::ffff:a.b.c.d), in both directions. */
typedef struct peer_address_tag {
    DWORD dwSize;
    struct sockaddr_in6 sin6;
} PEER_ADDRESS, *PPEER_ADDRESS;
typedef const PEER_ADDRESS *PCPEER_ADDRESS;

typedef struct peer_connection_info_tag {
    DWORD dwSize;
    DWORD dwFlags;           /* PEER_CONNECTION_FLAGS */
    ULONGLONG ullConnectionId;
    ULONGLONG ullNodeId;     /* always 0: no node ids */
    PWSTR pwzPeerId;         /* the identity peer name of the member at the other end */
    PEER_ADDRESS address;
} PEER_CONNECTION_INFO, *PPEER_CONNECTION_INFO;

typedef struct peer_credential_info_tag {
    DWORD dwSize;
    DWORD dwFlags;
    PWSTR pwzFriendlyName;
    CERT_PUBLIC_KEY_INFO *pPublicKey;
    PWSTR pwzIssuerPeerName;
    PWSTR pwzIssuerFriendlyName;
    FILETIME ftValidityStart;
    FILETIME ftValidityEnd;
    ULONG cRoles;
    PEER_ROLE_ID *pRoles;
} PEER_CREDENTIAL_INFO, *PPEER_CREDENTIAL_INFO;

typedef struct peer_member_tag {
    DWORD dwSize;
    DWORD dwFlags;
    PWSTR pwzIdentity;
    PWSTR pwzAttributes;
    ULONGLONG ullNodeId;
    ULONG cAddresses;
    PEER_ADDRESS *pAddresses;
    PEER_CREDENTIAL_INFO *pCredentialInfo;
} PEER_MEMBER, *PPEER_MEMBER;

typedef struct peer_name_pair_tag {
    DWORD dwSize;
    PWSTR pwzPeerName;
    PWSTR pwzFriendlyName;
} PEER_NAME_PAIR, *PPEER_NAME_PAIR;

typedef struct peer_invitation_info_tag {
    DWORD dwSize;
    DWORD dwFlags;
    PWSTR pwzCloudName;
    DWORD dwScope;
    DWORD dwCloudFlags;
    PWSTR pwzGroupPeerName;
    PWSTR pwzIssuerPeerName;
    PWSTR pwzSubjectPeerName;
    PWSTR pwzGroupFriendlyName;
    PWSTR pwzIssuerFriendlyName;
    PWSTR pwzSubjectFriendlyName;
    FILETIME ftValidityStart;
    FILETIME ftValidityEnd;
    ULONG cRoles;
    PEER_ROLE_ID *pRoles;
    ULONG cClassifiers;
    PWSTR *ppwzClassifiers;
    CERT_PUBLIC_KEY_INFO *pSubjectPublicKey;
    DWORD authScheme;
} PEER_INVITATION_INFO, *PPEER_INVITATION_INFO;

typedef struct peer_pnrp_cloud_info_tag {
    PWSTR pwzCloudName;
    PNRP_SCOPE dwScope;
    DWORD dwScopeId;
} PEER_PNRP_CLOUD_INFO, *PPEER_PNRP_CLOUD_INFO;

#define PNRP_VERSION ((WORD)0x0002) /* MAKEWORD(2, 0) */
#define PEER_PNRP_AUTO_ADDRESSES ((ULONG)-1)

typedef struct peer_pnrp_endpoint_info_tag {
    PWSTR pwzPeerName;
    ULONG cAddresses;
    SOCKADDR **ppAddresses;
    PWSTR pwzComment;
    PEER_DATA payload; /* always empty */
} PEER_PNRP_ENDPOINT_INFO, *PPEER_PNRP_ENDPOINT_INFO;

typedef struct peer_pnrp_registration_info_tag {
    PWSTR pwzCloudName;          /* NULL: every link-local and site-local cloud */
    PWSTR pwzPublishingIdentity; /* ignored: a secure name is proven by its own identity */
    ULONG cAddresses;            /* 0 or PEER_PNRP_AUTO_ADDRESSES: this host's, at wPort */
    SOCKADDR **ppAddresses;
    WORD wPort;
    PWSTR pwzComment;
    PEER_DATA payload;           /* must be empty */
} PEER_PNRP_REGISTRATION_INFO, *PPEER_PNRP_REGISTRATION_INFO;

typedef struct peer_group_event_registration_tag {
    PEER_GROUP_EVENT_TYPE eventType;
    GUID *pType;
} PEER_GROUP_EVENT_REGISTRATION, *PPEER_GROUP_EVENT_REGISTRATION;

typedef struct peer_event_incoming_data_tag {
    DWORD dwSize;
    ULONGLONG ullConnectionId;
    GUID type;
    PEER_DATA data;
} PEER_EVENT_INCOMING_DATA, *PPEER_EVENT_INCOMING_DATA;

typedef struct peer_event_record_change_data_tag {
    DWORD dwSize;
    PEER_RECORD_CHANGE_TYPE changeType;
    GUID recordId;
    GUID recordType;
} PEER_EVENT_RECORD_CHANGE_DATA, *PPEER_EVENT_RECORD_CHANGE_DATA;

typedef struct peer_event_connection_change_data_tag {
    DWORD dwSize;
    PEER_CONNECTION_STATUS status;
    ULONGLONG ullConnectionId;
    ULONGLONG ullNodeId;
    ULONGLONG ullNextConnectionId;
    HRESULT hrConnectionFailedReason;
} PEER_EVENT_CONNECTION_CHANGE_DATA, *PPEER_EVENT_CONNECTION_CHANGE_DATA;

typedef struct peer_event_member_change_data_tag {
    DWORD dwSize;
    PEER_MEMBER_CHANGE_TYPE changeType;
    PWSTR pwzIdentity;
} PEER_EVENT_MEMBER_CHANGE_DATA, *PPEER_EVENT_MEMBER_CHANGE_DATA;

typedef struct peer_group_event_data_tag {
    PEER_GROUP_EVENT_TYPE eventType;
    union {
        DWORD dwStatus;
        PEER_EVENT_INCOMING_DATA incomingData;
        PEER_EVENT_RECORD_CHANGE_DATA recordChangeData;
        PEER_EVENT_CONNECTION_CHANGE_DATA connectionChangeData;
        PEER_EVENT_MEMBER_CHANGE_DATA memberChangeData;
        HRESULT hrConnectionFailedReason;
    };
} PEER_GROUP_EVENT_DATA, *PPEER_GROUP_EVENT_DATA;

/* ---- startup, memory, enumerations ---- */

HRESULT PeerGroupStartup(WORD wVersionRequested, PPEER_VERSION_DATA pVersionData);
HRESULT PeerGroupShutdown(void);
void PeerFreeData(LPCVOID pvData);
HRESULT PeerGetItemCount(HPEERENUM hPeerEnum, ULONG *pCount);
HRESULT PeerGetNextItem(HPEERENUM hPeerEnum, ULONG *pCount, PVOID **pppvItems);
HRESULT PeerEndEnumeration(HPEERENUM hPeerEnum);

/* ---- identities ---- */

HRESULT PeerIdentityCreate(PCWSTR pwzClassifier, PCWSTR pwzFriendlyName, HCRYPTPROV hCryptProv, PWSTR *ppwzIdentity);
HRESULT PeerEnumIdentities(HPEERENUM *phPeerEnum);
HRESULT PeerIdentityDelete(PCWSTR pwzIdentity);
HRESULT PeerIdentityGetFriendlyName(PCWSTR pwzIdentity, PWSTR *ppwzFriendlyName);
HRESULT PeerIdentitySetFriendlyName(PCWSTR pwzIdentity, PCWSTR pwzFriendlyName);
HRESULT PeerIdentityGetXML(PCWSTR pwzIdentity, PWSTR *ppwzIdentityXML);
HRESULT PeerIdentityGetDefault(PWSTR *ppwzPeerName);
HRESULT PeerIdentityExport(PCWSTR pwzIdentity, PCWSTR pwzPassword, PWSTR *ppwzExportXML);
HRESULT PeerIdentityImport(PCWSTR pwzImportXML, PCWSTR pwzPassword, PWSTR *ppwzIdentity);
HRESULT PeerCreatePeerName(PCWSTR pwzIdentity, PCWSTR pwzClassifier, PWSTR *ppwzPeerName);

/* ---- clouds ---- */

HRESULT PeerPnrpGetCloudInfo(ULONG *pcNumClouds, PPEER_PNRP_CLOUD_INFO *ppCloudInfo);
HRESULT PeerPnrpStartup(WORD wVersionRequested);
HRESULT PeerPnrpShutdown(void);
HRESULT PeerPnrpRegister(PCWSTR pcwzPeerName, PPEER_PNRP_REGISTRATION_INFO pRegistrationInfo,
                         HREGISTRATION *phRegistration);
HRESULT PeerPnrpUpdateRegistration(HREGISTRATION hRegistration, PPEER_PNRP_REGISTRATION_INFO pRegistrationInfo);
HRESULT PeerPnrpUnregister(HREGISTRATION hRegistration);
HRESULT PeerPnrpResolve(PCWSTR pcwzPeerName, PCWSTR pcwzCloudName, ULONG *pcEndpoints,
                        PPEER_PNRP_ENDPOINT_INFO *ppEndpoints);
/* hEvent: a file descriptor open for writing, (HANDLE)(intptr_t)fd, signalled per endpoint
   and once at the end. PeerPnrpGetEndpoint: S_OK, PEER_S_NO_EVENT_DATA (nothing yet, *pp NULL),
   PEER_E_NO_MORE (all taken, the resolution ended). */
HRESULT PeerPnrpStartResolve(PCWSTR pcwzPeerName, PCWSTR pcwzCloudName, ULONG cMaxEndpoints, HANDLE hEvent,
                             HRESOLUTION *phResolveHandle);
HRESULT PeerPnrpGetEndpoint(HRESOLUTION hResolveHandle, PPEER_PNRP_ENDPOINT_INFO *ppEndpoint);
HRESULT PeerPnrpEndResolve(HRESOLUTION hResolveHandle);

/* ---- groups ---- */

HRESULT PeerGroupCreate(PPEER_GROUP_PROPERTIES pProperties, HGROUP *phGroup);
HRESULT PeerGroupCreateInvitation(HGROUP hGroup, PCWSTR pwzIdentityInfo, FILETIME *pftExpiration, ULONG cRoles,
                                  const GUID *pRoles, PWSTR *ppwzInvitation);
HRESULT PeerGroupParseInvitation(PCWSTR pwzInvitation, PPEER_INVITATION_INFO *ppInvitationInfo);
/* pwzSubjectIdentity: a member's peer name, or (peergroup) an identity's PeerIdentityGetXML text;
   pCredentialInfo->pPublicKey must be NULL (see docs/capi.md). */
HRESULT PeerGroupIssueCredentials(HGROUP hGroup, PCWSTR pwzSubjectIdentity, PEER_CREDENTIAL_INFO *pCredentialInfo,
                                  DWORD dwFlags, PWSTR *ppwzInvitation);
HRESULT PeerGroupJoin(PCWSTR pwzIdentity, PCWSTR pwzInvitation, PCWSTR pwzCloud, HGROUP *phGroup);
HRESULT PeerGroupCreatePasswordInvitation(HGROUP hGroup, PWSTR *ppwzInvitation);
/* The password is checked at the join (a member found in the group's cloud), not at the
   first PeerGroupConnect: a wrong one is PEER_E_NOT_AUTHORIZED (see docs/capi.md). */
HRESULT PeerGroupPasswordJoin(PCWSTR pwzIdentity, PCWSTR pwzInvitation, PCWSTR pwzPassword, PCWSTR pwzCloud,
                              HGROUP *phGroup);
/* Nothing waits to be resumed in peergroup (the password is proved inside PeerGroupPasswordJoin):
   S_OK for an open group and registration, E_HANDLE otherwise. */
HRESULT PeerGroupResumePasswordAuthentication(HGROUP hGroup, HPEEREVENT hPeerEventHandle);
HRESULT PeerGroupOpen(PCWSTR pwzIdentity, PCWSTR pwzGroupPeerName, PCWSTR pwzCloud, HGROUP *phGroup);
HRESULT PeerGroupClose(HGROUP hGroup);
HRESULT PeerGroupDelete(PCWSTR pwzIdentity, PCWSTR pwzGroupPeerName);
HRESULT PeerEnumGroups(PCWSTR pwzIdentity, HPEERENUM *phPeerEnum);
HRESULT PeerGroupGetProperties(HGROUP hGroup, PPEER_GROUP_PROPERTIES *ppProperties);
HRESULT PeerGroupSetProperties(HGROUP hGroup, PPEER_GROUP_PROPERTIES pProperties);
HRESULT PeerGroupGetStatus(HGROUP hGroup, DWORD *pdwStatus);
HRESULT PeerGroupEnumMembers(HGROUP hGroup, DWORD dwFlags, PCWSTR pwzIdentity, HPEERENUM *phPeerEnum);

/* ---- connecting: asynchronous, the outcome arrives as events (see docs/capi.md) ---- */

HRESULT PeerGroupConnect(HGROUP hGroup);
HRESULT PeerGroupConnectByAddress(HGROUP hGroup, ULONG cAddresses, PPEER_ADDRESS pAddresses);
HRESULT PeerGroupEnumConnections(HGROUP hGroup, DWORD dwFlags, HPEERENUM *phPeerEnum);
/* pAddress NULL: over the link the group's presence already has to the member. The id is valid
   once PEER_GROUP_EVENT_DIRECT_CONNECTION says PEER_CONNECTED. */
HRESULT PeerGroupOpenDirectConnection(HGROUP hGroup, PCWSTR pwzIdentity, PPEER_ADDRESS pAddress,
                                      ULONGLONG *pullConnectionId);
HRESULT PeerGroupCloseDirectConnection(HGROUP hGroup, ULONGLONG ullConnectionId);
/* cbData at most PEERGROUP_MAX_DATA_LEN, E_INVALIDARG beyond (nothing is sent). */
HRESULT PeerGroupSendData(HGROUP hGroup, ULONGLONG ullConnectionId, const GUID *pType, ULONG cbData,
                          PVOID pvData);

/* ---- records ---- */

HRESULT PeerGroupUniversalTimeToPeerTime(HGROUP hGroup, FILETIME *pftUniversalTime, FILETIME *pftPeerTime);
HRESULT PeerGroupPeerTimeToUniversalTime(HGROUP hGroup, FILETIME *pftPeerTime, FILETIME *pftUniversalTime);
HRESULT PeerGroupAddRecord(HGROUP hGroup, PPEER_RECORD pRecord, GUID *pRecordId);
HRESULT PeerGroupUpdateRecord(HGROUP hGroup, PPEER_RECORD pRecord);
HRESULT PeerGroupDeleteRecord(HGROUP hGroup, const GUID *pRecordId);
HRESULT PeerGroupGetRecord(HGROUP hGroup, const GUID *pRecordId, PPEER_RECORD *ppRecord);
HRESULT PeerGroupEnumRecords(HGROUP hGroup, const GUID *pRecordType, HPEERENUM *phPeerEnum);
HRESULT PeerGroupSearchRecords(HGROUP hGroup, PCWSTR pwzCriteria, HPEERENUM *phPeerEnum);
HRESULT PeerGroupExportDatabase(HGROUP hGroup, PCWSTR pwzFilePath);
HRESULT PeerGroupImportDatabase(HGROUP hGroup, PCWSTR pwzFilePath);

/* ---- configuration: the membership moves to another machine (the identity moves with PeerIdentityExport) ---- */

HRESULT PeerGroupExportConfig(HGROUP hGroup, PCWSTR pwzPassword, PWSTR *ppwzXML);
HRESULT PeerGroupImportConfig(PCWSTR pwzXML, PCWSTR pwzPassword, BOOL fOverwrite, PWSTR *ppwzIdentity,
                              PWSTR *ppwzGroup);

/* ---- events: hEvent is a file descriptor open for writing (eventfd or pipe), see docs/capi.md ---- */

HRESULT PeerGroupRegisterEvent(HGROUP hGroup, HANDLE hEvent, DWORD cEventRegistration,
                               PEER_GROUP_EVENT_REGISTRATION *pEventRegistrations, HPEEREVENT *phPeerEvent);
HRESULT PeerGroupUnregisterEvent(HPEEREVENT hPeerEvent);
HRESULT PeerGroupGetEventData(HPEEREVENT hPeerEvent, PPEER_GROUP_EVENT_DATA *ppEventData);

#ifdef __cplusplus
}
#endif

#endif /* PEERGROUP_P2P_H */
