/*
 * group_chat: the classic Peer Grouping chat sample (GroupChat.c of the Windows SDK): chat
 * messages are records of the group, replicated to every member; a whisper goes to one member
 * over a direct connection (PeerGroupSendData). Offline: create or open a group, add a
 * message, list the messages, watch for new ones through an event descriptor. Online: a host
 * invites a guest from another home (or host: another network namespace), both connect, and
 * they chat and whisper.
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
 *   group_chat identity NAME XMLFILE       a new identity NAME; its public info to XMLFILE
 *   group_chat host NAME XMLFILE INVFILE SECS
 *                                          creates NAME and a group, invites XMLFILE's identity
 *                                          (the invitation to INVFILE), goes online
 *                                          (PeerGroupConnect; the port is [net] port of
 *                                          config.toml), prints what the guest says and
 *                                          whispers, whispers back; ends when the guest's
 *                                          direct connection closes, or after SECS seconds
 *   group_chat guest NAME INVFILE ADDRESS PORT TEXT
 *                                          joins (as the identity invited; NAME is what the
 *                                          others see), connects to the host at ADDRESS (IPv6
 *                                          text, fe80::1%eth0 for link-local; IPv4 as
 *                                          ::ffff:a.b.c.d) PORT, says TEXT (a
 *                                          record), whispers TEXT to the host over a direct
 *                                          connection, prints the answer, closes
 *
 * The home folder is $PEERGROUP_HOME (else ~/.local/share/peergroup).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <net/if.h>
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

/* Writes ASCII text held in UTF-16 to a file (identity info and invitations are ASCII). */
static int write_text(const char *path, PCWSTR text) {
    FILE *f = fopen(path, "w");
    if (!f) return fail(path, -1);
    for (; *text; text++) fputc(*text < 128 ? (char)*text : '?', f);
    return fclose(f) == 0 ? 0 : fail(path, -1);
}

/* The text of a file, widened; free() it. NULL when it cannot be read. */
static WCHAR *read_text(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return to_wide(buf);
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
static HRESULT try_add_message(HGROUP group, const char *author, const char *text) {
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
        return hr;
    }
    record.data.cbData = (ULONG)strlen(text);
    record.data.pbData = (PBYTE)text;
    GUID id;
    hr = PeerGroupAddRecord(group, &record, &id);
    free(wattrs);
    return hr;
}

static int add_message(HGROUP group, const char *author, const char *text) {
    HRESULT hr = try_add_message(group, author, text);
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

/* ---- online: host and guest ---- */

/* The type of whispers (PeerGroupSendData on a direct connection). */
static const GUID WHISPER_TYPE = {0x4d5b2f5b, 0x1c0d, 0x4a5e, {0x9a, 0x3c, 0x21, 0x7f, 0x4e, 0x6a, 0x8b, 0x0d}};

/* One registration for everything the online modes follow. */
typedef struct {
    int fd;
    HPEEREVENT events;
} Feed;

static int feed_start(Feed *f, HGROUP group) {
    f->fd = eventfd(0, EFD_CLOEXEC);
    if (f->fd < 0) return fail("eventfd", -1);
    GUID chat = CHAT_MESSAGE_TYPE, whisper = WHISPER_TYPE;
    PEER_GROUP_EVENT_REGISTRATION regs[4] = {
        {PEER_GROUP_EVENT_RECORD_CHANGED, &chat},
        {PEER_GROUP_EVENT_INCOMING_DATA, &whisper},
        {PEER_GROUP_EVENT_DIRECT_CONNECTION, NULL},
        {PEER_GROUP_EVENT_NEIGHBOR_CONNECTION, NULL},
    };
    TRY(PeerGroupRegisterEvent(group, (HANDLE)(intptr_t)f->fd, 4, regs, &f->events));
    return 0;
}

static void feed_end(Feed *f) {
    PeerGroupUnregisterEvent(f->events);
    close(f->fd);
}

/* The next event, waiting until `deadline` at most; NULL when none came (PeerFreeData it). */
static PEER_GROUP_EVENT_DATA *next_event(Feed *f, time_t deadline) {
    for (;;) {
        PEER_GROUP_EVENT_DATA *event = NULL;
        if (PeerGroupGetEventData(f->events, &event) == S_OK) return event;
        time_t now = time(NULL);
        if (now >= deadline) return NULL;
        struct pollfd pfd = {f->fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)(deadline - now) * 1000) == 1) {
            unsigned long long signals;
            if (read(f->fd, &signals, sizeof signals) != (ssize_t)sizeof signals) return NULL;
        }
    }
}

/* Prints a chat message record: "<author> says: <text>". */
static void print_record(HGROUP group, const GUID *id) {
    PEER_RECORD *record = NULL;
    if (FAILED(PeerGroupGetRecord(group, id, &record))) return;
    printf("%.*s (a record)\n", (int)record->data.cbData, (const char *)record->data.pbData);
    PeerFreeData(record);
}

static int make_identity(const char *name, const char *xml_path) {
    PWSTR identity = NULL, xml = NULL;
    WCHAR *wname = to_wide(name);
    HRESULT hr = PeerIdentityCreate(wname, wname, 0, &identity);
    free(wname);
    if (FAILED(hr)) return fail("PeerIdentityCreate", hr);
    TRY(PeerIdentityGetXML(identity, &xml));
    int rc = write_text(xml_path, xml);
    PeerFreeData(xml);
    PeerFreeData(identity);
    return rc;
}

static int host(const char *name, const char *xml_path, const char *invitation_path, int seconds) {
    PWSTR me = NULL;
    WCHAR *wname = to_wide(name);
    HRESULT hr = PeerIdentityCreate(wname, wname, 0, &me);
    free(wname);
    if (FAILED(hr)) return fail("PeerIdentityCreate", hr);
    HGROUP group = NULL;
    if (create_group(me, &group)) return 1;
    WCHAR *guest_xml = read_text(xml_path);
    if (!guest_xml) return fail(xml_path, -1);
    PWSTR invitation = NULL;
    hr = PeerGroupCreateInvitation(group, guest_xml, NULL, 0, NULL, &invitation);
    free(guest_xml);
    if (FAILED(hr)) return fail("PeerGroupCreateInvitation", hr);
    int rc = write_text(invitation_path, invitation);
    PeerFreeData(invitation);
    if (rc) return rc;

    Feed feed;
    if (feed_start(&feed, group)) return 1;
    TRY(PeerGroupConnect(group));
    printf("host: online\n");
    fflush(stdout);
    time_t deadline = time(NULL) + seconds;
    int whispered = 0, said = 0, closed = 0;
    PEER_GROUP_EVENT_DATA *event;
    while (!(said && whispered && closed) && (event = next_event(&feed, deadline)) != NULL) {
        switch (event->eventType) {
        case PEER_GROUP_EVENT_RECORD_CHANGED:
            if (event->recordChangeData.changeType == PEER_RECORD_ADDED) {
                print_record(group, &event->recordChangeData.recordId);
                said = 1;
            }
            break;
        case PEER_GROUP_EVENT_INCOMING_DATA: {
            const PEER_EVENT_INCOMING_DATA *d = &event->incomingData;
            printf("whisper: %.*s\n", (int)d->data.cbData, (const char *)d->data.pbData);
            static const char answer[] = "psst, welcome";
            hr = PeerGroupSendData(group, d->ullConnectionId, &WHISPER_TYPE, sizeof answer - 1, (PVOID)answer);
            if (FAILED(hr)) return fail("PeerGroupSendData", hr);
            whispered = 1;
            break;
        }
        case PEER_GROUP_EVENT_NEIGHBOR_CONNECTION:
            if (event->connectionChangeData.status == PEER_CONNECTED) printf("host: a member connected\n");
            break;
        case PEER_GROUP_EVENT_DIRECT_CONNECTION:
            if (event->connectionChangeData.status == PEER_DISCONNECTED) closed = 1;
            break;
        default:
            break;
        }
        fflush(stdout);
        PeerFreeData(event);
    }
    feed_end(&feed);
    PeerGroupClose(group);
    PeerFreeData(me);
    if (!(said && whispered && closed)) {
        fprintf(stderr, "host: the guest did not say, whisper and close within %d s\n", seconds);
        return 1;
    }
    printf("host: done\n");
    return 0;
}

/* How long the guest waits for each step. */
#define GUEST_WAIT_SECONDS 60

static int guest(const char *name, const char *invitation_path, const char *ip6, const char *port, const char *text) {
    WCHAR *invitation = read_text(invitation_path);
    if (!invitation) return fail(invitation_path, -1);
    PEER_INVITATION_INFO *info = NULL;
    TRY(PeerGroupParseInvitation(invitation, &info));
    HGROUP group = NULL;
    /* The identity invited: the invitation names it. */
    HRESULT hr = PeerGroupJoin(info->pwzSubjectPeerName, invitation, NULL, &group);
    free(invitation);
    if (FAILED(hr)) return fail("PeerGroupJoin", hr);
    Feed feed;
    if (feed_start(&feed, group)) return 1;

    PEER_ADDRESS address;
    memset(&address, 0, sizeof address);
    address.dwSize = sizeof address;
    address.sin6.sin6_family = AF_INET6;
    address.sin6.sin6_port = htons((uint16_t)atoi(port));
    /* A link-local address names its interface: fe80::a%eth0. */
    char ip[INET6_ADDRSTRLEN + IF_NAMESIZE + 1];
    snprintf(ip, sizeof ip, "%s", ip6);
    char *scope = strchr(ip, '%');
    if (scope) {
        *scope++ = 0;
        address.sin6.sin6_scope_id = if_nametoindex(scope);
        if (address.sin6.sin6_scope_id == 0) return fail(scope, -1);
    }
    if (inet_pton(AF_INET6, ip, &address.sin6.sin6_addr) != 1) return fail("inet_pton", -1);
    TRY(PeerGroupConnectByAddress(group, 1, &address));

    /* Say TEXT once the group is ready here (a joined member synchronises first). */
    time_t deadline = time(NULL) + GUEST_WAIT_SECONDS;
    char line[300];
    snprintf(line, sizeof line, "%s says: %s", name, text);
    while ((hr = try_add_message(group, name, line)) == PEER_E_GROUP_NOT_READY) {
        /* Any event may be the synchronisation's end; at the latest, try again each second. */
        PEER_GROUP_EVENT_DATA *event = next_event(&feed, time(NULL) + 1);
        if (event) PeerFreeData(event);
        if (time(NULL) > deadline) return fail("guest: the group was not ready", hr);
    }
    if (FAILED(hr)) return fail("PeerGroupAddRecord", hr);

    /* Whisper TEXT to the host over a direct connection, and read the answer. */
    ULONGLONG direct = 0;
    TRY(PeerGroupOpenDirectConnection(group, info->pwzIssuerPeerName, NULL, &direct));
    int answered = 0;
    PEER_GROUP_EVENT_DATA *event;
    while (!answered && (event = next_event(&feed, deadline)) != NULL) {
        if (event->eventType == PEER_GROUP_EVENT_DIRECT_CONNECTION &&
            event->connectionChangeData.ullConnectionId == direct) {
            if (event->connectionChangeData.status != PEER_CONNECTED) {
                fprintf(stderr, "direct connection: status %u\n", (unsigned)event->connectionChangeData.status);
                return fail("direct connection", event->connectionChangeData.hrConnectionFailedReason);
            }
            TRY(PeerGroupSendData(group, direct, &WHISPER_TYPE, (ULONG)strlen(text), (PVOID)text));
        } else if (event->eventType == PEER_GROUP_EVENT_INCOMING_DATA && event->incomingData.ullConnectionId == direct) {
            const PEER_DATA *d = &event->incomingData.data;
            printf("whisper back: %.*s\n", (int)d->cbData, (const char *)d->pbData);
            answered = 1;
        }
        PeerFreeData(event);
    }
    if (!answered) return fail("guest: no answer", -1);
    TRY(PeerGroupCloseDirectConnection(group, direct));
    /* Close once the host heard the close (closing the group drops the link). */
    int closed = 0;
    while (!closed && (event = next_event(&feed, deadline)) != NULL) {
        closed = event->eventType == PEER_GROUP_EVENT_DIRECT_CONNECTION &&
                 event->connectionChangeData.status == PEER_DISCONNECTED;
        PeerFreeData(event);
    }
    feed_end(&feed);
    PeerFreeData(info);
    PeerGroupClose(group);
    printf("guest: done\n");
    return 0;
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
    } else if (argc == 4 && strcmp(argv[1], "identity") == 0) {
        rc = make_identity(argv[2], argv[3]);
    } else if (argc == 6 && strcmp(argv[1], "host") == 0) {
        rc = host(argv[2], argv[3], argv[4], atoi(argv[5]));
    } else if (argc == 7 && strcmp(argv[1], "guest") == 0) {
        rc = guest(argv[2], argv[3], argv[4], argv[5], argv[6]);
    } else {
        fprintf(stderr, "usage: group_chat create NAME | say ID GROUP TEXT | list ID GROUP | watch ID GROUP SECS | demo\n"
                        "       group_chat identity NAME XMLFILE | host NAME XMLFILE INVFILE SECS\n"
                        "       group_chat guest NAME INVFILE ADDRESS PORT TEXT\n");
    }
    if (group) PeerGroupClose(group);
    PeerGroupShutdown();
    return rc;
}
