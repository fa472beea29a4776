/*
 * group_chat: the classic Peer Grouping chat sample (GroupChat.c of the Windows SDK), reduced
 * to what works offline: create or open a group, add a chat message as a record, list the
 * messages, and watch for new ones through an event descriptor.
 *
 * Build (see docs/capi.md):
 *   cc -std=c11 -I crates/capi/include examples/c/group_chat.c \
 *      -L target/debug -lpeergroup_capi -Wl,-rpath,$PWD/target/debug -o group_chat
 *
 * Usage:
 *   group_chat create NAME                 a new identity NAME and a group; prints both peer names
 *   group_chat say IDENTITY GROUP TEXT     adds a message
 *   group_chat list IDENTITY GROUP         lists the messages
 *   group_chat watch IDENTITY GROUP SECS   prints messages others add during SECS seconds
 *   group_chat demo                        all of the above in one process, then cleans up
 *
 * The home folder is $PEERGROUP_HOME (else ~/.local/share/peergroup).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <uchar.h>
#include <unistd.h>

#include "p2p.h"

/* The record type of chat messages (the SDK sample used its own GUID the same way). */
static const GUID CHAT_MESSAGE_TYPE = {0x4d5b2f5b, 0x1c0d, 0x4a5e, {0x9a, 0x3c, 0x21, 0x7f, 0x4e, 0x6a, 0x8b, 0x0c}};

static int fail(const char *what, HRESULT hr) {
    fprintf(stderr, "%s failed: 0x%08X\n", what, (unsigned)hr);
    return 1;
}

#define TRY(call)                                          \
    do {                                                   \
        HRESULT hr_ = (call);                              \
        if (FAILED(hr_)) return fail(#call, hr_);          \
    } while (0)

static WCHAR *to_wide(const char *s) {
    size_t n = strlen(s);
    WCHAR *w = malloc((n + 1) * sizeof(WCHAR));
    if (!w) exit(1);
    for (size_t i = 0; i <= n; i++) w[i] = (WCHAR)(unsigned char)s[i];
    return w;
}

static void print_wide(PCWSTR s) {
    for (; *s; s++) putchar(*s < 128 ? (char)*s : '?');
}

/* PeerGroupCreate with the sample's properties: identity as creator, global cloud. */
static int create_group(PCWSTR identity, HGROUP *group) {
    PEER_GROUP_PROPERTIES props;
    memset(&props, 0, sizeof props);
    props.dwSize = sizeof props;
    props.pwzClassifier = u"GroupChat";
    props.pwzFriendlyName = u"Group chat";
    props.pwzCreatorPeerName = (PWSTR)identity;
    TRY(PeerGroupCreate(&props, group));
    return 0;
}

/* Adds one message: the text as the record's data, the author as an attribute. */
static int add_message(HGROUP group, const char *author, const char *text) {
    char attrs[300];
    snprintf(attrs, sizeof attrs,
             "<attributes><attribute name=\"author\" type=\"string\">%s</attribute></attributes>", author);
    WCHAR *wattrs = to_wide(attrs);
    /* Expire in an hour, in the group's peer time (as the SDK sample does). */
    unsigned long long ticks = ((unsigned long long)time(NULL) + 11644473600ULL + 3600) * 10000000ULL;
    FILETIME in_an_hour = {(DWORD)ticks, (DWORD)(ticks >> 32)};
    PEER_RECORD record;
    memset(&record, 0, sizeof record);
    record.dwSize = sizeof record;
    record.type = CHAT_MESSAGE_TYPE;
    record.pwzAttributes = wattrs;
    HRESULT hr = PeerGroupUniversalTimeToPeerTime(group, &in_an_hour, &record.ftExpiration);
    if (FAILED(hr)) {
        free(wattrs);
        return fail("PeerGroupUniversalTimeToPeerTime", hr);
    }
    record.data.cbData = (ULONG)strlen(text);
    record.data.pbData = (PBYTE)text;
    GUID id;
    hr = PeerGroupAddRecord(group, &record, &id);
    free(wattrs);
    return FAILED(hr) ? fail("PeerGroupAddRecord", hr) : 0;
}

/* Lists the messages: "<author>: <text>", author taken from the attributes XML. */
static int list_messages(HGROUP group) {
    HPEERENUM e = NULL;
    TRY(PeerGroupEnumRecords(group, &CHAT_MESSAGE_TYPE, &e));
    for (;;) {
        ULONG count = 16;
        PEER_RECORD **records = NULL;
        HRESULT hr = PeerGetNextItem(e, &count, (PVOID **)&records);
        if (FAILED(hr)) return fail("PeerGetNextItem", hr);
        if (count == 0) break;
        for (ULONG i = 0; i < count; i++) {
            PCWSTR a = records[i]->pwzAttributes;
            /* The value sits between the first '>' after "author" and the next '<'. */
            size_t start = 0;
            while (a[start] && !(a[start] == u'"' && a[start + 1] == u' ')) start++;
            while (a[start] && a[start] != u'>') start++;
            if (a[start]) start++;
            for (size_t j = start; a[j] && a[j] != u'<'; j++) putchar(a[j] < 128 ? (char)a[j] : '?');
            printf(": %.*s\n", (int)records[i]->data.cbData, (const char *)records[i]->data.pbData);
        }
        PeerFreeData(records);
    }
    TRY(PeerEndEnumeration(e));
    return 0;
}

/* Waits up to `seconds` for record events and prints them. */
static int watch(HGROUP group, int seconds, int stop_after_one) {
    int fd = eventfd(0, EFD_CLOEXEC);
    if (fd < 0) return fail("eventfd", -1);
    GUID type = CHAT_MESSAGE_TYPE;
    PEER_GROUP_EVENT_REGISTRATION reg = {PEER_GROUP_EVENT_RECORD_CHANGED, &type};
    HPEEREVENT events = NULL;
    TRY(PeerGroupRegisterEvent(group, (HANDLE)(intptr_t)fd, 1, &reg, &events));
    if (stop_after_one) add_message(group, "alice", "hello from C");
    struct pollfd pfd = {fd, POLLIN, 0};
    int seen = 0;
    while (poll(&pfd, 1, seconds * 1000) == 1) {
        unsigned long long signals;
        if (read(fd, &signals, sizeof signals) != (ssize_t)sizeof signals) break;
        PEER_GROUP_EVENT_DATA *event = NULL;
        while (PeerGroupGetEventData(events, &event) == S_OK) {
            static const char *changes[] = {"?", "added", "updated", "deleted", "expired"};
            DWORD change = event->recordChangeData.changeType;
            printf("event: record %s\n", changes[change <= 4 ? change : 0]);
            PeerFreeData(event);
            seen++;
        }
        if (stop_after_one && seen) break;
    }
    TRY(PeerGroupUnregisterEvent(events));
    close(fd);
    return 0;
}

static int open_group(const char *identity, const char *group_name, HGROUP *group) {
    WCHAR *wid = to_wide(identity), *wgroup = to_wide(group_name);
    HRESULT hr = PeerGroupOpen(wid, wgroup, NULL, group);
    free(wid);
    free(wgroup);
    return FAILED(hr) ? fail("PeerGroupOpen", hr) : 0;
}

static int demo(void) {
    PWSTR identity = NULL;
    HGROUP group = NULL;
    TRY(PeerIdentityCreate(u"alice", u"Alice", 0, &identity));
    if (create_group(identity, &group)) return 1;
    if (watch(group, 10, 1)) return 1;
    if (list_messages(group)) return 1;
    PEER_GROUP_PROPERTIES *props = NULL;
    TRY(PeerGroupGetProperties(group, &props));
    TRY(PeerGroupClose(group));
    TRY(PeerGroupDelete(identity, props->pwzGroupPeerName));
    PeerFreeData(props);
    TRY(PeerIdentityDelete(identity));
    PeerFreeData(identity);
    return 0;
}

int main(int argc, char **argv) {
    PEER_VERSION_DATA version;
    HRESULT hr = PeerGroupStartup(PEER_GROUP_VERSION, &version);
    if (FAILED(hr)) return fail("PeerGroupStartup", hr);
    int rc = 2;
    HGROUP group = NULL;
    if (argc == 2 && strcmp(argv[1], "demo") == 0) {
        rc = demo();
    } else if (argc == 3 && strcmp(argv[1], "create") == 0) {
        PWSTR identity = NULL;
        WCHAR *name = to_wide(argv[2]);
        hr = PeerIdentityCreate(name, name, 0, &identity);
        free(name);
        if (FAILED(hr)) return fail("PeerIdentityCreate", hr);
        rc = create_group(identity, &group);
        if (rc == 0) {
            PEER_GROUP_PROPERTIES *props = NULL;
            TRY(PeerGroupGetProperties(group, &props));
            print_wide(identity);
            putchar('\n');
            print_wide(props->pwzGroupPeerName);
            putchar('\n');
            PeerFreeData(props);
            PeerGroupClose(group);
        }
        PeerFreeData(identity);
    } else if (argc == 5 && strcmp(argv[1], "say") == 0) {
        rc = open_group(argv[2], argv[3], &group) || add_message(group, argv[2], argv[4]);
    } else if (argc == 4 && strcmp(argv[1], "list") == 0) {
        rc = open_group(argv[2], argv[3], &group) || list_messages(group);
    } else if (argc == 5 && strcmp(argv[1], "watch") == 0) {
        rc = open_group(argv[2], argv[3], &group) || watch(group, atoi(argv[4]), 0);
    } else {
        fprintf(stderr, "usage: group_chat create NAME | say ID GROUP TEXT | list ID GROUP | watch ID GROUP SECS | demo\n");
    }
    if (group) PeerGroupClose(group);
    PeerGroupShutdown();
    return rc;
}
