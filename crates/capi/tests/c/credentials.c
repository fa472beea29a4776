/*
 * PeerGroupIssueCredentials through the C ABI, in one home: alice (the creator) issues bob,
 * who joined, new credentials as an administrator; without PEER_GROUP_STORE_CREDENTIALS bob
 * takes them by joining with the invitation (PEER_S_ALREADY_A_MEMBER); with it they are
 * published in alice's copy of the group (bob's member entry). Argument rules and the codes
 * of a bad subject, an unknown one and a member that issues. Every allocation is freed:
 * valgrind checks it.
 *
 * Usage: credentials                    ($PEERGROUP_HOME names an empty home)
 */
#include "common.h"

static const GUID ROLE_ADMIN = {0x04387127, 0xaa56, 0x450a, {0x8c, 0xe5, 0x4f, 0x56, 0x5c, 0x67, 0x90, 0xf4}};
static const GUID ROLE_MEMBER = {0xf12dc4c7, 0x0857, 0x4ca0, {0x93, 0xfc, 0xb1, 0xbb, 0x19, 0xa3, 0xd8, 0xc2}};

static PEER_CREDENTIAL_INFO credential_info(PEER_ROLE_ID *role, PCWSTR friendly_name) {
    PEER_CREDENTIAL_INFO info;
    memset(&info, 0, sizeof info);
    info.dwSize = sizeof info;
    info.pwzFriendlyName = (PWSTR)friendly_name;
    info.cRoles = role != NULL ? 1 : 0;
    info.pRoles = role;
    info.ftValidityEnd = filetime_in(7 * 86400);
    return info;
}

/* The member entry of `who` in `group`'s copy: its roles (one) and friendly name checked. */
static int has_member(HGROUP group, PCWSTR who, const GUID *role, PCWSTR friendly_name) {
    HPEERENUM e = NULL;
    OK(PeerGroupEnumMembers(group, 0, NULL, &e));
    ULONG n = 10;
    PEER_MEMBER **members = NULL;
    OK(PeerGetNextItem(e, &n, (PVOID **)&members));
    int found = 0;
    for (ULONG i = 0; i < n; i++) {
        PEER_CREDENTIAL_INFO *c = members[i]->pCredentialInfo;
        if (weq(members[i]->pwzIdentity, who))
            found = c != NULL && c->cRoles == 1 && guid_eq(&c->pRoles[0], role) && weq(c->pwzFriendlyName, friendly_name);
    }
    PeerFreeData(members);
    OK(PeerEndEnumeration(e));
    return found;
}

int main(void) {
    PEER_VERSION_DATA version;
    PWSTR text = NULL;
    EXPECT(PeerGroupIssueCredentials(NULL, u"x", NULL, 0, &text), PEER_E_NOT_INITIALIZED);
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));

    PWSTR alice = NULL, bob = NULL, bob_xml = NULL, alice_xml = NULL;
    OK(PeerIdentityCreate(u"alice", u"Alice", 0, &alice));
    OK(PeerIdentityCreate(u"bob", u"Bob", 0, &bob));
    OK(PeerIdentityGetXML(bob, &bob_xml));
    OK(PeerIdentityGetXML(alice, &alice_xml));

    WCHAR *group_name = NULL;
    HGROUP group = create_group(alice, u"chat", &group_name);

    /* Bob joins as a member. */
    PWSTR invitation = NULL;
    OK(PeerGroupCreateInvitation(group, bob_xml, NULL, 0, NULL, &invitation));
    HGROUP bob_group = NULL;
    OK(PeerGroupJoin(bob, invitation, NULL, &bob_group));
    PeerFreeData(invitation);

    /* Argument rules. */
    PEER_ROLE_ID admin_role = ROLE_ADMIN;
    PEER_CREDENTIAL_INFO info = credential_info(&admin_role, NULL);
    EXPECT(PeerGroupIssueCredentials(group, NULL, &info, 0, &text), E_INVALIDARG);
    EXPECT(PeerGroupIssueCredentials(group, u"not a peer name", &info, 0, &text), E_INVALIDARG);
    EXPECT(PeerGroupIssueCredentials(group, bob_xml, &info, 0x2, &text), E_INVALIDARG);
    EXPECT(PeerGroupIssueCredentials(NULL, bob_xml, &info, 0, &text), E_HANDLE);
    info.dwSize = 8;
    EXPECT(PeerGroupIssueCredentials(group, bob_xml, &info, 0, &text), E_INVALIDARG);
    info.dwSize = sizeof info;
    info.dwFlags = 1;
    EXPECT(PeerGroupIssueCredentials(group, bob_xml, &info, 0, &text), E_INVALIDARG);
    info.dwFlags = 0;
    GUID unknown_role = {1, 2, 3, {4, 5, 6, 7, 8, 9, 10, 11}};
    info.pRoles = &unknown_role;
    EXPECT(PeerGroupIssueCredentials(group, bob_xml, &info, 0, &text), PEER_E_INVALID_ROLE_PROPERTY);
    info.pRoles = &admin_role;
    CHECK(text == NULL);
    /* A bad subject: alice herself. An unknown one: bob by name, whose joining alice's copy
       has not heard of (they never synchronised). */
    EXPECT(PeerGroupIssueCredentials(group, alice_xml, &info, 0, &text), E_INVALIDARG);
    EXPECT(PeerGroupIssueCredentials(group, bob, NULL, 0, &text), PEER_E_IDENTITY_NOT_FOUND);
    /* Bob, not synchronised, is not ready to issue anything. */
    EXPECT(PeerGroupIssueCredentials(bob_group, alice_xml, NULL, 0, &text), PEER_E_GROUP_NOT_READY);

    /* Issued without storing: bob joins with the invitation and becomes an administrator. */
    OK(PeerGroupIssueCredentials(group, bob_xml, &info, 0, &text));
    PEER_INVITATION_INFO *parsed = NULL;
    OK(PeerGroupParseInvitation(text, &parsed));
    CHECK(weq(parsed->pwzSubjectPeerName, bob) && weq(parsed->pwzIssuerPeerName, alice));
    CHECK(parsed->cRoles == 1 && guid_eq(&parsed->pRoles[0], &ROLE_ADMIN));
    PeerFreeData(parsed);
    HGROUP again = NULL;
    EXPECT(PeerGroupJoin(bob, text, NULL, &again), PEER_S_ALREADY_A_MEMBER);
    OK(PeerGroupClose(again));
    PeerFreeData(text);
    text = NULL;
    CHECK(!has_member(group, bob, &ROLE_ADMIN, u"Bob"));

    /* Stored (no invitation asked for): alice's copy holds bob's new entry, renamed. */
    PEER_ROLE_ID member_role = ROLE_MEMBER;
    info = credential_info(&member_role, u"Robert");
    OK(PeerGroupIssueCredentials(group, bob_xml, &info, PEER_GROUP_STORE_CREDENTIALS, NULL));
    CHECK(has_member(group, bob, &ROLE_MEMBER, u"Robert"));
    /* Renewed by name now that the copy holds him, with the roles he holds; then promoted. */
    OK(PeerGroupIssueCredentials(group, bob, NULL, PEER_GROUP_STORE_CREDENTIALS, &text));
    CHECK(text != NULL);
    PeerFreeData(text);
    CHECK(has_member(group, bob, &ROLE_MEMBER, u"Robert"));
    info = credential_info(&admin_role, NULL);
    OK(PeerGroupIssueCredentials(group, bob, &info, PEER_GROUP_STORE_CREDENTIALS, NULL));
    CHECK(has_member(group, bob, &ROLE_ADMIN, u"Robert"));

    OK(PeerGroupClose(bob_group));
    OK(PeerGroupClose(group));
    PeerFreeData(alice);
    PeerFreeData(bob);
    PeerFreeData(bob_xml);
    PeerFreeData(alice_xml);
    free(group_name);
    OK(PeerGroupShutdown());
    printf("credentials: ok\n");
    return 0;
}
