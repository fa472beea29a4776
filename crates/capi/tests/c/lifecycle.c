/*
 * The whole life of a group through the C ABI: startup, identities, group creation,
 * invitation, join, open (twice, and from a second process), events through an eventfd and a
 * pipe, records (add, get, update, enumerate, search, delete), members, database export and
 * import, close, delete, shutdown. Every allocation is freed: valgrind checks it.
 *
 * Usage: lifecycle                      (the test; $PEERGROUP_HOME names an empty home)
 *        lifecycle child IDENTITY GROUP  (the second process: opens the group, adds a record)
 */
#include "common.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

static const GUID CHAT_TYPE = {0x4d5b2f5b, 0x1c0d, 0x4a5e, {0x9a, 0x3c, 0x21, 0x7f, 0x4e, 0x6a, 0x8b, 0x01}};
static const GUID OTHER_TYPE = {0x4d5b2f5b, 0x1c0d, 0x4a5e, {0x9a, 0x3c, 0x21, 0x7f, 0x4e, 0x6a, 0x8b, 0x02}};

static void add_message(HGROUP group, const GUID *type, const char *author, const char *text, GUID *id) {
    char attrs[256];
    snprintf(attrs, sizeof attrs,
             "<attributes><attribute name=\"author\" type=\"string\">%s</attribute></attributes>", author);
    WCHAR *wattrs = widen(attrs);
    PEER_RECORD record;
    memset(&record, 0, sizeof record);
    record.dwSize = sizeof record;
    record.type = *type;
    record.pwzAttributes = wattrs;
    record.ftExpiration = filetime_in(3600);
    record.data.cbData = (ULONG)strlen(text);
    record.data.pbData = (PBYTE)text;
    OK(PeerGroupAddRecord(group, &record, id));
    free(wattrs);
}

/* Waits until the descriptor is readable and reads one 8-byte signal from it. */
static unsigned long long wait_signal(int fd) {
    struct pollfd pfd = {fd, POLLIN, 0};
    CHECK(poll(&pfd, 1, 20000) == 1);
    unsigned long long value = 0;
    CHECK(read(fd, &value, sizeof value) == (ssize_t)sizeof value);
    return value;
}

static int child(const char *identity, const char *group_name) {
    PEER_VERSION_DATA version;
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    WCHAR *wid = widen(identity), *wgroup = widen(group_name);
    HGROUP group = NULL;
    OK(PeerGroupOpen(wid, wgroup, NULL, &group));
    GUID id;
    add_message(group, &CHAT_TYPE, "child", "from the second process", &id);
    OK(PeerGroupClose(group));
    OK(PeerGroupShutdown());
    free(wid);
    free(wgroup);
    return 0;
}

static ULONG count_items(HPEERENUM e) {
    ULONG n = 0;
    OK(PeerGetItemCount(e, &n));
    return n;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "child") == 0) return child(argv[2], argv[3]);
    CHECK(argc == 1);

    /* Before startup. */
    HGROUP group = NULL;
    PWSTR text = NULL;
    EXPECT(PeerGroupOpen(u"a", u"b", NULL, &group), PEER_E_NOT_INITIALIZED);
    EXPECT(PeerIdentityCreate(u"alice", NULL, 0, &text), PEER_E_NOT_INITIALIZED);
    EXPECT(PeerGroupShutdown(), PEER_E_NOT_INITIALIZED);
    EXPECT(PeerGroupStartup(PEER_GROUP_VERSION, NULL), E_INVALIDARG);
    PEER_VERSION_DATA version;
    EXPECT(PeerGroupStartup(0x0000, &version), PEER_E_UNSUPPORTED_VERSION);

    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    CHECK(version.wVersion == PEER_GROUP_VERSION && version.wHighestVersion == PEER_GROUP_VERSION);
    /* Startups nest. */
    OK(PeerGroupStartup(0x0001, &version));
    CHECK(version.wVersion == 0x0001);
    OK(PeerGroupShutdown());

    /* Identities. */
    PWSTR alice = NULL, bob = NULL;
    OK(PeerIdentityCreate(u"alice", u"Alice", 0, &alice));
    OK(PeerIdentityCreate(u"bob", NULL, 0, &bob));
    EXPECT(PeerIdentityCreate(u"carol", NULL, 42, &text), E_HANDLE);
    EXPECT(PeerIdentityCreate(u"carol", NULL, 0, NULL), E_INVALIDARG);
    CHECK(alice != NULL && bob != NULL);

    HPEERENUM e = NULL;
    OK(PeerEnumIdentities(&e));
    CHECK(count_items(e) == 2);
    ULONG n = 10;
    PEER_NAME_PAIR **pairs = NULL;
    OK(PeerGetNextItem(e, &n, (PVOID **)&pairs));
    CHECK(n == 2 && pairs != NULL);
    int seen_alice = 0;
    for (ULONG i = 0; i < n; i++) {
        CHECK(pairs[i]->dwSize == sizeof(PEER_NAME_PAIR));
        if (weq(pairs[i]->pwzPeerName, alice)) seen_alice = weq(pairs[i]->pwzFriendlyName, u"Alice");
    }
    CHECK(seen_alice);
    PeerFreeData(pairs);
    n = 10;
    OK(PeerGetNextItem(e, &n, (PVOID **)&pairs));
    CHECK(n == 0 && pairs == NULL);
    OK(PeerEndEnumeration(e));
    EXPECT(PeerEndEnumeration(e), E_HANDLE);

    OK(PeerIdentitySetFriendlyName(bob, u"Bob"));
    OK(PeerIdentityGetFriendlyName(bob, &text));
    CHECK(weq(text, u"Bob"));
    PeerFreeData(text);

    PWSTR peer_name = NULL;
    OK(PeerCreatePeerName(alice, u"chat", &peer_name));
    CHECK(wlen(peer_name) == 45 && peer_name[40] == u'.' && memcmp(peer_name, alice, 40 * sizeof(WCHAR)) == 0);
    PeerFreeData(peer_name);
    OK(PeerCreatePeerName(NULL, u"open", &peer_name));
    CHECK(weq(peer_name, u"0.open"));
    PeerFreeData(peer_name);
    EXPECT(PeerCreatePeerName(NULL, NULL, &peer_name), E_INVALIDARG);

    PWSTR exported = NULL;
    OK(PeerIdentityExport(alice, u"correct horse battery", &exported));
    EXPECT(PeerIdentityImport(exported, u"correct horse battery", &text), PEER_E_ALREADY_EXISTS);
    EXPECT(PeerIdentityExport(alice, NULL, &text), E_INVALIDARG);
    PeerFreeData(exported);

    ULONG clouds = 0;
    PEER_PNRP_CLOUD_INFO *cloud_info = NULL;
    OK(PeerPnrpGetCloudInfo(&clouds, &cloud_info));
    CHECK(clouds >= 1 && weq(cloud_info[0].pwzCloudName, u"Global_") && cloud_info[0].dwScope == PNRP_GLOBAL_SCOPE);
    PeerFreeData(cloud_info);

    /* Create a group. */
    PEER_GROUP_PROPERTIES props;
    memset(&props, 0, sizeof props);
    props.dwSize = sizeof props;
    props.pwzCreatorPeerName = alice;
    props.pwzClassifier = u"chat";
    props.pwzFriendlyName = u"Chat room";
    props.pwzComment = u"offline records";
    HGROUP created = NULL;
    OK(PeerGroupCreate(&props, &created));
    PEER_GROUP_PROPERTIES *got = NULL;
    OK(PeerGroupGetProperties(created, &got));
    CHECK(weq(got->pwzFriendlyName, u"Chat room") && weq(got->pwzComment, u"offline records"));
    CHECK(weq(got->pwzCreatorPeerName, alice) && weq(got->pwzClassifier, u"chat"));
    CHECK(weq(got->pwzCloud, u"Global_"));
    WCHAR *group_name = malloc((wlen(got->pwzGroupPeerName) + 1) * sizeof(WCHAR));
    CHECK(group_name != NULL);
    memcpy(group_name, got->pwzGroupPeerName, (wlen(got->pwzGroupPeerName) + 1) * sizeof(WCHAR));
    PeerFreeData(got);
    props.pwzFriendlyName = u"Renamed room";
    OK(PeerGroupSetProperties(created, &props));
    OK(PeerGroupGetProperties(created, &got));
    CHECK(weq(got->pwzFriendlyName, u"Renamed room") && weq(got->pwzComment, u"offline records"));
    PeerFreeData(got);
    FILETIME utc = filetime_in(10), peer_time;
    OK(PeerGroupUniversalTimeToPeerTime(created, &utc, &peer_time));
    CHECK(peer_time.dwLowDateTime == utc.dwLowDateTime && peer_time.dwHighDateTime == utc.dwHighDateTime);
    OK(PeerGroupPeerTimeToUniversalTime(created, &peer_time, &utc));
    EXPECT(PeerGroupUniversalTimeToPeerTime(created, NULL, &peer_time), E_INVALIDARG);
    DWORD status = 99;
    OK(PeerGroupGetStatus(created, &status));
    CHECK(status == 0);
    props.pwzGroupPeerName = group_name;
    EXPECT(PeerGroupCreate(&props, &group), E_INVALIDARG);

    /* The XP-sized properties (without the last three fields) are accepted; a smaller dwSize is not. */
    props.pwzGroupPeerName = NULL;
    props.dwSize = (DWORD)offsetof(PEER_GROUP_PROPERTIES, dwAuthenticationSchemes);
    props.pwzClassifier = u"xp";
    HGROUP xp = NULL, bad_group = NULL;
    OK(PeerGroupCreate(&props, &xp));
    props.dwSize = 8;
    EXPECT(PeerGroupCreate(&props, &bad_group), E_INVALIDARG);
    EXPECT(PeerGroupCreate(NULL, &bad_group), E_INVALIDARG);

    /* Invite bob; bob joins. */
    PWSTR bob_xml = NULL, invitation = NULL;
    OK(PeerIdentityGetXML(bob, &bob_xml));
    FILETIME expiry = filetime_in(86400);
    OK(PeerGroupCreateInvitation(created, bob_xml, &expiry, 0, NULL, &invitation));
    PeerFreeData(bob_xml);
    PEER_INVITATION_INFO *info = NULL;
    OK(PeerGroupParseInvitation(invitation, &info));
    CHECK(info->dwSize == sizeof(PEER_INVITATION_INFO));
    CHECK(weq(info->pwzSubjectPeerName, bob) && weq(info->pwzIssuerPeerName, alice));
    CHECK(weq(info->pwzGroupPeerName, group_name) && weq(info->pwzCloudName, u"Global_"));
    CHECK(info->cRoles == 1);
    PeerFreeData(info);
    EXPECT(PeerGroupParseInvitation(u"not an invitation", &info), PEER_E_INVITATION_NOT_TRUSTED);
    CHECK(info == NULL);
    HGROUP joined = NULL;
    EXPECT(PeerGroupJoin(alice, invitation, NULL, &joined), PEER_E_INVITATION_NOT_TRUSTED);
    OK(PeerGroupJoin(bob, invitation, NULL, &joined));
    OK(PeerGroupClose(joined));
    EXPECT(PeerGroupJoin(bob, invitation, NULL, &joined), PEER_S_ALREADY_A_MEMBER);
    OK(PeerGroupClose(joined));
    PeerFreeData(invitation);
    OK(PeerEnumGroups(bob, &e));
    CHECK(count_items(e) == 1);
    OK(PeerEndEnumeration(e));

    /* Open twice. */
    HGROUP first = NULL, second = NULL;
    OK(PeerGroupOpen(alice, group_name, NULL, &first));
    OK(PeerGroupOpen(alice, group_name, u"Global_", &second));
    CHECK(first != second && first != NULL);
    OK(PeerGroupClose(created));

    /* Events: an eventfd for every record change, a pipe for OTHER_TYPE only. */
    int efd = eventfd(0, EFD_CLOEXEC);
    CHECK(efd >= 0);
    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    PEER_GROUP_EVENT_REGISTRATION all[2] = {{PEER_GROUP_EVENT_RECORD_CHANGED, NULL},
                                            {PEER_GROUP_EVENT_MEMBER_CHANGED, NULL}};
    HPEEREVENT events = NULL, piped = NULL;
    OK(PeerGroupRegisterEvent(second, (HANDLE)(intptr_t)efd, 2, all, &events));
    GUID other = OTHER_TYPE;
    PEER_GROUP_EVENT_REGISTRATION only_other = {PEER_GROUP_EVENT_RECORD_CHANGED, &other};
    OK(PeerGroupRegisterEvent(second, (HANDLE)(intptr_t)pipefd[1], 1, &only_other, &piped));
    HPEEREVENT bad = (HPEEREVENT)0x1;
    EXPECT(PeerGroupRegisterEvent(second, (HANDLE)(intptr_t)pipefd[0], 1, &only_other, &bad), E_INVALIDARG);
    EXPECT(PeerGroupRegisterEvent(second, (HANDLE)(intptr_t)-1, 1, &only_other, &bad), E_INVALIDARG);
    PEER_GROUP_EVENT_REGISTRATION bogus = {(PEER_GROUP_EVENT_TYPE)7, NULL};
    EXPECT(PeerGroupRegisterEvent(second, (HANDLE)(intptr_t)efd, 1, &bogus, &bad), E_INVALIDARG);
    EXPECT(PeerGroupRegisterEvent(second, (HANDLE)(intptr_t)efd, 0, all, &bad), E_INVALIDARG);
    EXPECT(PeerGroupRegisterEvent(first, (HANDLE)(intptr_t)efd, 1, NULL, &bad), E_INVALIDARG);
    CHECK(bad == NULL);
    PEER_GROUP_EVENT_DATA *event = NULL;
    EXPECT(PeerGroupGetEventData(events, &event), PEER_S_NO_EVENT_DATA);
    CHECK(event == NULL);

    GUID message_id;
    add_message(first, &CHAT_TYPE, "alice", "hello", &message_id);
    CHECK(wait_signal(efd) >= 1);
    OK(PeerGroupGetEventData(events, &event));
    CHECK(event->eventType == PEER_GROUP_EVENT_RECORD_CHANGED);
    CHECK(event->recordChangeData.dwSize == sizeof(PEER_EVENT_RECORD_CHANGE_DATA));
    CHECK(event->recordChangeData.changeType == PEER_RECORD_ADDED);
    CHECK(guid_eq(&event->recordChangeData.recordId, &message_id));
    CHECK(guid_eq(&event->recordChangeData.recordType, &CHAT_TYPE));
    PeerFreeData(event);
    EXPECT(PeerGroupGetEventData(events, &event), PEER_S_NO_EVENT_DATA);

    /* Malformed records: wrong size, missing data, too much data (refused before reading it). */
    PEER_RECORD bad_record;
    memset(&bad_record, 0, sizeof bad_record);
    bad_record.dwSize = sizeof bad_record - 8;
    bad_record.type = CHAT_TYPE;
    bad_record.ftExpiration = filetime_in(60);
    GUID bad_id;
    EXPECT(PeerGroupAddRecord(first, &bad_record, &bad_id), E_INVALIDARG);
    bad_record.dwSize = sizeof bad_record;
    EXPECT(PeerGroupAddRecord(first, &bad_record, NULL), E_INVALIDARG);
    EXPECT(PeerGroupAddRecord(first, NULL, &bad_id), E_INVALIDARG);
    bad_record.data.cbData = 5;
    EXPECT(PeerGroupAddRecord(first, &bad_record, &bad_id), E_INVALIDARG);
    bad_record.data.cbData = 0x7fffffff;
    bad_record.data.pbData = (PBYTE) "tiny";
    EXPECT(PeerGroupAddRecord(first, &bad_record, &bad_id), PEER_E_MAX_RECORD_SIZE_EXCEEDED);
    bad_record.data.cbData = 0;
    bad_record.pwzAttributes = u"<attributes><attribute name=\"bad-name\">x</attribute></attributes>";
    EXPECT(PeerGroupAddRecord(first, &bad_record, &bad_id), PEER_E_INVALID_ATTRIBUTES);

    /* A record of the other type reaches both registrations. */
    GUID other_id;
    add_message(first, &OTHER_TYPE, "alice", "other", &other_id);
    CHECK(wait_signal(pipefd[0]) == 1);
    OK(PeerGroupGetEventData(piped, &event));
    CHECK(guid_eq(&event->recordChangeData.recordId, &other_id));
    PeerFreeData(event);
    EXPECT(PeerGroupGetEventData(piped, &event), PEER_S_NO_EVENT_DATA);
    CHECK(wait_signal(efd) >= 1);
    OK(PeerGroupGetEventData(events, &event));
    CHECK(guid_eq(&event->recordChangeData.recordId, &other_id));
    PeerFreeData(event);

    /* A second process opens the same group and adds a record: the event arrives here. */
    char *id8 = narrow(alice), *group8 = narrow(group_name);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl(argv[0], argv[0], "child", id8, group8, (char *)NULL);
        _exit(127);
    }
    int wstatus = 0;
    CHECK(waitpid(pid, &wstatus, 0) == pid);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    free(id8);
    free(group8);
    CHECK(wait_signal(efd) >= 1);
    OK(PeerGroupGetEventData(events, &event));
    CHECK(event->eventType == PEER_GROUP_EVENT_RECORD_CHANGED && event->recordChangeData.changeType == PEER_RECORD_ADDED);
    GUID child_id = event->recordChangeData.recordId;
    PeerFreeData(event);

    /* Records. */
    PEER_RECORD *record = NULL;
    OK(PeerGroupGetRecord(second, &child_id, &record));
    CHECK(record->dwSize == sizeof(PEER_RECORD) && guid_eq(&record->type, &CHAT_TYPE));
    CHECK(record->data.cbData == strlen("from the second process"));
    CHECK(memcmp(record->data.pbData, "from the second process", record->data.cbData) == 0);
    CHECK(weq(record->pwzCreatorId, alice) && record->securityData.cbData > 0);
    PeerFreeData(record);

    OK(PeerGroupGetRecord(first, &message_id, &record));
    PEER_RECORD update = *record;
    update.data.cbData = 7;
    update.data.pbData = (PBYTE) "updated";
    update.ftExpiration = filetime_in(7200);
    OK(PeerGroupUpdateRecord(first, &update));
    PeerFreeData(record);
    OK(PeerGroupGetRecord(second, &message_id, &record));
    CHECK(record->dwVersion == 2 && record->data.cbData == 7 && memcmp(record->data.pbData, "updated", 7) == 0);
    PeerFreeData(record);
    CHECK(wait_signal(efd) >= 1);
    OK(PeerGroupGetEventData(events, &event));
    CHECK(event->recordChangeData.changeType == PEER_RECORD_UPDATED);
    PeerFreeData(event);

    OK(PeerGroupEnumRecords(second, NULL, &e));
    CHECK(count_items(e) == 3);
    n = 2;
    PEER_RECORD **records = NULL;
    OK(PeerGetNextItem(e, &n, (PVOID **)&records));
    CHECK(n == 2 && records[0]->dwSize == sizeof(PEER_RECORD));
    PeerFreeData(records);
    CHECK(count_items(e) == 1);
    OK(PeerEndEnumeration(e)); /* releases the record not handed out */

    OK(PeerGroupEnumRecords(second, &OTHER_TYPE, &e));
    CHECK(count_items(e) == 1);
    OK(PeerEndEnumeration(e));

    OK(PeerGroupSearchRecords(second, u"<peersearch><clause attrib=\"author\" type=\"string\">chi*</clause></peersearch>", &e));
    n = 5;
    OK(PeerGetNextItem(e, &n, (PVOID **)&records));
    CHECK(n == 1 && guid_eq(&records[0]->id, &child_id));
    PeerFreeData(records);
    OK(PeerEndEnumeration(e));
    EXPECT(PeerGroupSearchRecords(second, u"<nonsense/>", &e), PEER_E_INVALID_SEARCH);

    OK(PeerGroupEnumMembers(second, 0, NULL, &e));
    n = 10;
    PEER_MEMBER **members = NULL;
    OK(PeerGetNextItem(e, &n, (PVOID **)&members));
    /* Each identity has its own copy of the group: bob's joining reaches alice's copy only when
       the two synchronise over the network, so alice's lists alice. */
    CHECK(n == 1);
    int member_alice = 0;
    for (ULONG i = 0; i < n; i++) {
        CHECK(members[i]->dwSize == sizeof(PEER_MEMBER) && members[i]->pCredentialInfo != NULL);
        if (weq(members[i]->pwzIdentity, alice))
            member_alice = weq(members[i]->pCredentialInfo->pwzFriendlyName, u"Alice") && members[i]->pCredentialInfo->cRoles == 1;
    }
    CHECK(member_alice);
    PeerFreeData(members);
    OK(PeerEndEnumeration(e));

    /* Export and import the database. */
    char path[512];
    snprintf(path, sizeof path, "%s/export.db", getenv("PEERGROUP_HOME"));
    WCHAR *wpath = widen(path);
    OK(PeerGroupExportDatabase(first, wpath));
    OK(PeerGroupImportDatabase(second, wpath));
    free(wpath);

    OK(PeerGroupDeleteRecord(first, &other_id));
    EXPECT(PeerGroupGetRecord(first, &other_id, &record), PEER_E_RECORD_NOT_FOUND);
    EXPECT(PeerGroupDeleteRecord(first, NULL), E_INVALIDARG);

    /* Unregister, close, delete, shut down. */
    OK(PeerGroupUnregisterEvent(events));
    OK(PeerGroupUnregisterEvent(piped));
    EXPECT(PeerGroupUnregisterEvent(piped), E_HANDLE);
    EXPECT(PeerGroupGetEventData(piped, &event), E_HANDLE);
    EXPECT(PeerGroupClose(events), E_HANDLE);
    close(efd);
    close(pipefd[0]);
    close(pipefd[1]);
    OK(PeerGroupClose(first));
    EXPECT(PeerGroupClose(first), E_HANDLE);
    EXPECT(PeerGroupGetStatus(first, &status), E_HANDLE);

    EXPECT(PeerIdentityDelete(bob), PEER_E_GROUPS_EXIST);
    OK(PeerGroupDelete(bob, group_name));
    OK(PeerIdentityDelete(bob));
    EXPECT(PeerIdentityDelete(bob), PEER_E_NOT_FOUND);
    OK(PeerGroupDelete(alice, group_name));
    EXPECT(PeerGroupGetStatus(second, &status), PEER_E_INVALID_GROUP);
    EXPECT(PeerGroupOpen(alice, group_name, NULL, &group), PEER_E_NOT_FOUND);
    OK(PeerEnumGroups(alice, &e));
    CHECK(count_items(e) == 1); /* the XP-sized one */
    /* Left open on purpose, for shutdown to close: `second` (its group deleted), `xp` with an
       event registration, and this enumeration (valgrind sees nothing lost). */
    int efd2 = eventfd(0, EFD_CLOEXEC);
    CHECK(efd2 >= 0);
    HPEEREVENT left = NULL;
    OK(PeerGroupRegisterEvent(xp, (HANDLE)(intptr_t)efd2, 2, all, &left));

    PeerFreeData(alice);
    PeerFreeData(bob);
    free(group_name);
    OK(PeerGroupShutdown());
    EXPECT(PeerGroupClose(second), PEER_E_NOT_INITIALIZED);
    close(efd2);
    printf("lifecycle: ok\n");
    return 0;
}
