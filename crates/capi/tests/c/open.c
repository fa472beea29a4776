/*
 * Every outcome of PeerGroupOpen, and the boundary rules every function shares.
 *
 * Usage: open                                   the test ($PEERGROUP_HOME names a home whose
 *                                               config.toml points DNS at a silent server)
 *        open setup                             makes an identity and a group, prints both names
 *        open expect IDENTITY GROUP CLOUD HEX    opens and checks the HRESULT (for other hosts)
 */
#include "common.h"

#include <sys/resource.h>
#include <sys/stat.h>

static int setup(void) {
    PEER_VERSION_DATA version;
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    PWSTR identity = NULL;
    OK(PeerIdentityCreate(u"opener", NULL, 0, &identity));
    PEER_GROUP_PROPERTIES props;
    memset(&props, 0, sizeof props);
    props.dwSize = sizeof props;
    props.pwzCreatorPeerName = identity;
    props.pwzClassifier = u"room";
    HGROUP group = NULL;
    OK(PeerGroupCreate(&props, &group));
    PEER_GROUP_PROPERTIES *got = NULL;
    OK(PeerGroupGetProperties(group, &got));
    char *id8 = narrow(identity), *group8 = narrow(got->pwzGroupPeerName);
    printf("%s\n%s\n", id8, group8);
    free(id8);
    free(group8);
    PeerFreeData(got);
    PeerFreeData(identity);
    OK(PeerGroupClose(group));
    OK(PeerGroupShutdown());
    return 0;
}

static int expect(const char *identity, const char *group_name, const char *cloud, const char *hex) {
    PEER_VERSION_DATA version;
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    WCHAR *wid = widen(identity), *wgroup = widen(group_name), *wcloud = widen(cloud);
    HGROUP group = NULL;
    HRESULT hr = PeerGroupOpen(wid, wgroup, wcloud, &group);
    HRESULT want = (HRESULT)strtoul(hex, NULL, 16);
    if (hr != want) {
        fprintf(stderr, "PeerGroupOpen in %s returned 0x%08X, expected %s\n", cloud, (unsigned)hr, hex);
        return 1;
    }
    CHECK(SUCCEEDED(hr) == (group != NULL));
    if (group) OK(PeerGroupClose(group));
    free(wid);
    free(wgroup);
    free(wcloud);
    OK(PeerGroupShutdown());
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "setup") == 0) return setup();
    if (argc == 6 && strcmp(argv[1], "expect") == 0) return expect(argv[2], argv[3], argv[4], argv[5]);
    CHECK(argc == 1);

    PEER_VERSION_DATA version;
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    PWSTR identity = NULL, stranger = NULL;
    OK(PeerIdentityCreate(u"opener", u"Opener", 0, &identity));
    OK(PeerIdentityCreate(u"stranger", NULL, 0, &stranger));
    PEER_GROUP_PROPERTIES props;
    memset(&props, 0, sizeof props);
    props.dwSize = sizeof props;
    props.pwzCreatorPeerName = identity;
    props.pwzClassifier = u"room";
    HGROUP group = NULL;
    OK(PeerGroupCreate(&props, &group));
    PEER_GROUP_PROPERTIES *got = NULL;
    OK(PeerGroupGetProperties(group, &got));
    WCHAR name[200];
    CHECK(wlen(got->pwzGroupPeerName) < 200);
    memcpy(name, got->pwzGroupPeerName, (wlen(got->pwzGroupPeerName) + 1) * sizeof(WCHAR));
    PeerFreeData(got);
    OK(PeerGroupClose(group));

    /* S_OK: NULL cloud (the group's), the cloud by name; the handle starts offline. */
    OK(PeerGroupOpen(identity, name, NULL, &group));
    DWORD status = 7;
    OK(PeerGroupGetStatus(group, &status));
    CHECK(status == 0);
    OK(PeerGroupClose(group));
    OK(PeerGroupOpen(identity, name, u"Global_", &group));
    OK(PeerGroupClose(group));

    /* E_INVALIDARG: missing arguments, malformed names, bad UTF-16, no terminator. */
    group = (HGROUP)0x1234;
    EXPECT(PeerGroupOpen(NULL, name, NULL, &group), E_INVALIDARG);
    CHECK(group == NULL);
    EXPECT(PeerGroupOpen(identity, NULL, NULL, &group), E_INVALIDARG);
    EXPECT(PeerGroupOpen(identity, name, NULL, NULL), E_INVALIDARG);
    EXPECT(PeerGroupOpen(u"", name, NULL, &group), E_INVALIDARG);
    EXPECT(PeerGroupOpen(identity, u"not a peer name", NULL, &group), E_INVALIDARG);
    EXPECT(PeerGroupOpen(identity, name, u"", &group), E_INVALIDARG);
    EXPECT(PeerGroupOpen(identity, name, u"bad cloud", &group), E_INVALIDARG);
    EXPECT(PeerGroupOpen(identity, name, u"Global_x", &group), E_INVALIDARG);
    WCHAR surrogate[64];
    memcpy(surrogate, name, 10 * sizeof(WCHAR));
    surrogate[10] = 0xD800; /* a high surrogate followed by an ASCII letter */
    surrogate[11] = u'a';
    surrogate[12] = 0;
    EXPECT(PeerGroupOpen(identity, surrogate, NULL, &group), E_INVALIDARG);
    surrogate[0] = 0xDC00; /* a lone low surrogate */
    surrogate[1] = 0;
    EXPECT(PeerGroupOpen(surrogate, name, NULL, &group), E_INVALIDARG);
    size_t units = 5000; /* more than the 4096-unit limit, with no terminator in the first 4096 */
    WCHAR *long_name = malloc(units * sizeof(WCHAR));
    CHECK(long_name != NULL);
    for (size_t i = 0; i < units - 1; i++) long_name[i] = u'a';
    long_name[units - 1] = 0;
    EXPECT(PeerGroupOpen(identity, long_name, NULL, &group), E_INVALIDARG);
    EXPECT(PeerGroupOpen(long_name, name, NULL, &group), E_INVALIDARG);
    free(long_name);

    /* Not created or joined by this identity; unknown identity. */
    EXPECT(PeerGroupOpen(stranger, name, NULL, &group), PEER_E_NOT_FOUND);
    WCHAR unknown[64];
    memcpy(unknown, identity, (wlen(identity) + 1) * sizeof(WCHAR));
    unknown[0] = unknown[0] == u'0' ? u'1' : u'0';
    EXPECT(PeerGroupOpen(unknown, name, NULL, &group), PEER_E_IDENTITY_NOT_FOUND);

    /* PEER_E_NO_CLOUD: a DNS cloud that DNS does not answer for (config.toml). */
    EXPECT(PeerGroupOpen(identity, name, u"corp.test.", &group), PEER_E_NO_CLOUD);
    CHECK(group == NULL);

    /* PEER_E_NO_KEY_ACCESS: the identity's key file readable by others. */
    char *id8 = narrow(identity);
    id8[40] = 0;
    char key[600];
    snprintf(key, sizeof key, "%s/identities/%s/key.pk8", getenv("PEERGROUP_HOME"), id8);
    free(id8);
    CHECK(chmod(key, 0644) == 0);
    EXPECT(PeerGroupOpen(identity, name, NULL, &group), PEER_E_NO_KEY_ACCESS);
    CHECK(chmod(key, 0600) == 0);
    OK(PeerGroupOpen(identity, name, NULL, &group));

    /* E_OUTOFMEMORY: more handles than the process's descriptors allow (the library counts
       four descriptors per handle and keeps 64 for the rest of the process). */
    OK(PeerGroupClose(group));
    struct rlimit saved, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    low = saved;
    low.rlim_cur = 128;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    HGROUP many[64];
    int opened = 0;
    HRESULT hr;
    while ((hr = PeerGroupOpen(identity, name, NULL, &many[opened])) == S_OK) {
        opened++;
        CHECK(opened < 64);
    }
    EXPECT(hr, E_OUTOFMEMORY);
    CHECK(opened > 0 && many[opened] == NULL);
    while (opened > 0) OK(PeerGroupClose(many[--opened]));
    CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    OK(PeerGroupOpen(identity, name, NULL, &group));

    /* Handles: closed, foreign and made-up ones are E_HANDLE, never a crash. */
    HGROUP closed = group;
    OK(PeerGroupClose(group));
    EXPECT(PeerGroupClose(closed), E_HANDLE);
    EXPECT(PeerGroupGetStatus(closed, &status), E_HANDLE);
    EXPECT(PeerGroupClose(NULL), E_HANDLE);
    EXPECT(PeerGroupClose((HGROUP)&status), E_HANDLE);
    HPEERENUM e = NULL;
    OK(PeerEnumIdentities(&e));
    EXPECT(PeerGroupClose((HGROUP)e), E_HANDLE); /* an enumeration is not a group */
    EXPECT(PeerGroupGetStatus((HGROUP)e, &status), E_HANDLE);
    ULONG count = 0;
    EXPECT(PeerGetItemCount((HPEERENUM)closed, &count), E_HANDLE);
    EXPECT(PeerGetItemCount(e, NULL), E_INVALIDARG);
    count = 0;
    PVOID *items = NULL;
    EXPECT(PeerGetNextItem(e, &count, &items), E_INVALIDARG);
    OK(PeerEndEnumeration(e));

    /* PeerFreeData ignores what it did not hand out, and double frees. */
    PWSTR friendly = NULL;
    OK(PeerIdentityGetFriendlyName(identity, &friendly));
    CHECK(weq(friendly, u"Opener"));
    PeerFreeData(friendly);
    PeerFreeData(friendly);
    PeerFreeData(&status);
    PeerFreeData(NULL);
    void *heap = malloc(16);
    PeerFreeData(heap);
    free(heap);

    PeerFreeData(identity);
    PeerFreeData(stranger);
    OK(PeerGroupShutdown());
    printf("open: ok\n");
    return 0;
}
