/*
 * Going online through the C ABI, between processes with homes of their own on loopback:
 * PeerGroupConnect, PeerGroupConnectByAddress, PeerGroupEnumConnections, and the network
 * events (PEER_GROUP_EVENT_STATUS_CHANGED, _NEIGHBOR_CONNECTION, _MEMBER_CHANGED with
 * PEER_MEMBER_CONNECTED/DISCONNECTED, _CONNECTION_FAILED, _AUTHENTICATION_FAILED) with their
 * data; direct connections and data (PeerGroupOpenDirectConnection, PeerGroupSendData,
 * PeerGroupCloseDirectConnection, PEER_GROUP_EVENT_DIRECT_CONNECTION, _INCOMING_DATA) and the
 * configuration export (PeerGroupExportConfig, PeerGroupImportConfig). Every wait is bounded (a timeout fails), and every allocation is freed: valgrind
 * checks it.
 *
 * Usage (the test runs the steps in this order, each process in its own $PEERGROUP_HOME):
 *   connect identity XMLFILE          creates the member's identity, writes its
 *                                     PeerIdentityGetXML text (UTF-16) to XMLFILE, prints
 *                                     its peer name
 *   connect creator XMLFILE INVFILE   creates a group, invites the identity of XMLFILE (the
 *                                     invitation, UTF-16, to INVFILE), PeerGroupConnect (the
 *                                     port is [net] port of config.toml); prints LISTENING,
 *                                     CONNECTED once the member linked, DATA once the
 *                                     member's data came and its direct connection closed
 *                                     (answering "ping" with "pong"), DISCONNECTED once it left, REFUSED once a stranger was turned away, then
 *                                     "connect creator: ok"
 *   connect member NAME INVFILE ADDRESS PORT
 *                                     joins as NAME, checks the argument rules, connects by
 *                                     address to ADDRESS (IPv6 text) PORT, checks the events,
 *                                     connections, status and members; opens a direct
 *                                     connection, sends on it and on the neighbour connection,
 *                                     reads the answer, closes; exports and imports its config
 *   connect stranger ADDRESS PORT     a non-member with a group of its own connects by
 *                                     address and is refused
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* How long any one wait may take (valgrind makes everything slower). */
#define WAIT_SECONDS 120

/* A copy of a string the library returned; free() it. */
static WCHAR *wdup(PCWSTR s) {
    size_t n = wlen(s) + 1;
    WCHAR *copy = malloc(n * sizeof(WCHAR));
    CHECK(copy != NULL);
    memcpy(copy, s, n * sizeof(WCHAR));
    return copy;
}

/* ---- addresses ---- */

static PEER_ADDRESS peer_address(const char *ip6, unsigned port) {
    PEER_ADDRESS a;
    memset(&a, 0, sizeof a);
    a.dwSize = sizeof a;
    a.sin6.sin6_family = AF_INET6;
    a.sin6.sin6_port = htons((uint16_t)port);
    CHECK(inet_pton(AF_INET6, ip6, &a.sin6.sin6_addr) == 1);
    return a;
}

/* ---- events ---- */

/* The type of the data the members exchange. */
static GUID CHAT_TYPE = {0x6368a7d1, 0x5e1f, 0x4c2b, {0x9a, 0x11, 0x3b, 0x7e, 0x52, 0x0c, 0x44, 0x01}};
/* A type nobody registered for: its data must not arrive. */
static GUID OTHER_TYPE = {0x6368a7d1, 0x5e1f, 0x4c2b, {0x9a, 0x11, 0x3b, 0x7e, 0x52, 0x0c, 0x44, 0x02}};

#define NETWORK_EVENT_COUNT 7
static PEER_GROUP_EVENT_REGISTRATION NETWORK_EVENTS[NETWORK_EVENT_COUNT] = {
    {PEER_GROUP_EVENT_STATUS_CHANGED, NULL},      {PEER_GROUP_EVENT_NEIGHBOR_CONNECTION, NULL},
    {PEER_GROUP_EVENT_MEMBER_CHANGED, NULL},      {PEER_GROUP_EVENT_CONNECTION_FAILED, NULL},
    {PEER_GROUP_EVENT_AUTHENTICATION_FAILED, NULL}, {PEER_GROUP_EVENT_DIRECT_CONNECTION, NULL},
    {PEER_GROUP_EVENT_INCOMING_DATA, &CHAT_TYPE},
};

/* What a registration has seen so far. */
typedef struct {
    int fd;
    HPEEREVENT events;
    PCWSTR watched; /* the member whose PEER_MEMBER_CONNECTED/DISCONNECTED are counted */
    DWORD status;
    int neighbors_up, neighbors_down;
    ULONGLONG connection_id; /* of the last neighbour that came up */
    int watched_connected, watched_disconnected, watched_joined;
    int connection_failures, authentication_failures;
    HRESULT authentication_reason;
    int direct_up, direct_down, direct_failed;
    ULONGLONG direct_id; /* of the last direct connection that came up */
    /* The connection each message arrived on (0: not yet). */
    ULONGLONG ping_on, hello_on, pong_on;
} Feed;

static void feed_start(Feed *f, HGROUP group, PCWSTR watched) {
    memset(f, 0, sizeof *f);
    f->fd = eventfd(0, EFD_CLOEXEC);
    CHECK(f->fd >= 0);
    f->watched = watched;
    OK(PeerGroupRegisterEvent(group, (HANDLE)(intptr_t)f->fd, NETWORK_EVENT_COUNT, NETWORK_EVENTS, &f->events));
}

static void feed_end(Feed *f) {
    OK(PeerGroupUnregisterEvent(f->events));
    close(f->fd);
}

/* Takes in one event, checking its data. */
static void take(Feed *f, const PEER_GROUP_EVENT_DATA *e) {
    switch (e->eventType) {
    case PEER_GROUP_EVENT_STATUS_CHANGED:
        f->status = e->dwStatus;
        break;
    case PEER_GROUP_EVENT_NEIGHBOR_CONNECTION: {
        const PEER_EVENT_CONNECTION_CHANGE_DATA *c = &e->connectionChangeData;
        CHECK(c->dwSize == sizeof(PEER_EVENT_CONNECTION_CHANGE_DATA));
        CHECK(c->ullConnectionId != 0 && c->ullNodeId == 0 && c->ullNextConnectionId == 0);
        if (c->status == PEER_CONNECTED) {
            CHECK(c->hrConnectionFailedReason == S_OK);
            f->neighbors_up++;
            f->connection_id = c->ullConnectionId;
        } else {
            CHECK(c->status == PEER_DISCONNECTED);
            f->neighbors_down++;
        }
        break;
    }
    case PEER_GROUP_EVENT_MEMBER_CHANGED: {
        const PEER_EVENT_MEMBER_CHANGE_DATA *m = &e->memberChangeData;
        CHECK(m->dwSize == sizeof(PEER_EVENT_MEMBER_CHANGE_DATA) && m->pwzIdentity != NULL);
        CHECK(m->changeType == PEER_MEMBER_CONNECTED || m->changeType == PEER_MEMBER_DISCONNECTED ||
              m->changeType == PEER_MEMBER_UPDATED || m->changeType == PEER_MEMBER_JOINED);
        if (f->watched != NULL && weq(m->pwzIdentity, f->watched)) {
            if (m->changeType == PEER_MEMBER_CONNECTED) f->watched_connected++;
            if (m->changeType == PEER_MEMBER_DISCONNECTED) f->watched_disconnected++;
            if (m->changeType == PEER_MEMBER_JOINED) f->watched_joined++;
        }
        break;
    }
    case PEER_GROUP_EVENT_CONNECTION_FAILED:
        /* Not every run has one (a creator whose cloud is turned off may); each is a failure. */
        CHECK(FAILED(e->hrConnectionFailedReason));
        fprintf(stderr, "connection failed: 0x%08X\n", (unsigned)e->hrConnectionFailedReason);
        f->connection_failures++;
        break;
    case PEER_GROUP_EVENT_AUTHENTICATION_FAILED:
        CHECK(FAILED(e->hrConnectionFailedReason));
        f->authentication_reason = e->hrConnectionFailedReason;
        f->authentication_failures++;
        break;
    case PEER_GROUP_EVENT_DIRECT_CONNECTION: {
        const PEER_EVENT_CONNECTION_CHANGE_DATA *c = &e->connectionChangeData;
        CHECK(c->dwSize == sizeof(PEER_EVENT_CONNECTION_CHANGE_DATA) && c->ullConnectionId != 0);
        if (c->status == PEER_CONNECTED) {
            CHECK(c->hrConnectionFailedReason == S_OK);
            f->direct_up++;
            f->direct_id = c->ullConnectionId;
        } else if (c->status == PEER_DISCONNECTED) {
            f->direct_down++;
        } else {
            CHECK(c->status == PEER_CONNECTION_FAILED && FAILED(c->hrConnectionFailedReason));
            fprintf(stderr, "direct connection failed: 0x%08X\n", (unsigned)c->hrConnectionFailedReason);
            f->direct_failed++;
        }
        break;
    }
    case PEER_GROUP_EVENT_INCOMING_DATA: {
        const PEER_EVENT_INCOMING_DATA *d = &e->incomingData;
        CHECK(d->dwSize == sizeof(PEER_EVENT_INCOMING_DATA) && d->ullConnectionId != 0);
        CHECK(memcmp(&d->type, &CHAT_TYPE, sizeof(GUID)) == 0); /* registered for this type only */
        const char *text = (const char *)d->data.pbData;
        size_t n = d->data.cbData;
        if (n == 4 && memcmp(text, "ping", 4) == 0) f->ping_on = d->ullConnectionId;
        else if (n == 15 && memcmp(text, "hello neighbour", 15) == 0) f->hello_on = d->ullConnectionId;
        else if (n == 4 && memcmp(text, "pong", 4) == 0) f->pong_on = d->ullConnectionId;
        else {
            fprintf(stderr, "unexpected data of %zu bytes\n", n);
            exit(1);
        }
        break;
    }
    case PEER_GROUP_EVENT_RESYNC:
        break;
    default:
        fprintf(stderr, "an event of a type not registered for: %u\n", (unsigned)e->eventType);
        exit(1);
    }
}

/* Waits up to `ms` for the descriptor, then takes every event waiting. */
static void pump(Feed *f, int ms) {
    struct pollfd pfd = {f->fd, POLLIN, 0};
    int ready = poll(&pfd, 1, ms);
    CHECK(ready >= 0 || errno == EINTR);
    if (ready == 1) {
        uint64_t signals = 0;
        CHECK(read(f->fd, &signals, sizeof signals) == (ssize_t)sizeof signals);
    }
    PEER_GROUP_EVENT_DATA *e = NULL;
    HRESULT hr;
    while ((hr = PeerGroupGetEventData(f->events, &e)) == S_OK) {
        take(f, e);
        PeerFreeData(e);
    }
    EXPECT(hr, PEER_S_NO_EVENT_DATA);
    CHECK(e == NULL);
}


/* ---- enumerations ---- */

/* The connections of `group` of the kinds `flags`: their count, each checked; the first is
   copied to `first` when there is one. */
static ULONG connections(HGROUP group, DWORD flags, PEER_CONNECTION_INFO *first) {
    HPEERENUM e = NULL;
    OK(PeerGroupEnumConnections(group, flags, &e));
    ULONG n = 0;
    OK(PeerGetItemCount(e, &n));
    ULONG got = 0;
    if (n > 0) {
        got = n;
        PEER_CONNECTION_INFO **items = NULL;
        OK(PeerGetNextItem(e, &got, (PVOID **)&items));
        CHECK(got == n && items != NULL);
        for (ULONG i = 0; i < got; i++) {
            CHECK(items[i]->dwSize == sizeof(PEER_CONNECTION_INFO));
            DWORD kind = items[i]->dwFlags;
            CHECK(kind == PEER_CONNECTION_NEIGHBOR || kind == PEER_CONNECTION_DIRECT);
            CHECK(flags == 0 || (flags & kind));
            CHECK(items[i]->ullConnectionId != 0 && items[i]->ullNodeId == 0 && items[i]->pwzPeerId != NULL);
            CHECK(items[i]->address.dwSize == sizeof(PEER_ADDRESS));
            CHECK(items[i]->address.sin6.sin6_family == AF_INET6 && items[i]->address.sin6.sin6_port != 0);
        }
        if (first != NULL) *first = *items[0]; /* its pwzPeerId dies with the batch: not kept */
        PeerFreeData(items);
    }
    OK(PeerEndEnumeration(e));
    return got;
}

/* The neighbour connections, read item by item: exactly one, to `peer`, then the end. */
static void only_neighbour(HGROUP group, PCWSTR peer) {
    HPEERENUM e = NULL;
    OK(PeerGroupEnumConnections(group, PEER_CONNECTION_NEIGHBOR, &e));
    ULONG n = 4;
    PEER_CONNECTION_INFO **items = NULL;
    OK(PeerGetNextItem(e, &n, (PVOID **)&items));
    CHECK(n == 1 && weq(items[0]->pwzPeerId, peer));
    PeerFreeData(items);
    n = 4;
    OK(PeerGetNextItem(e, &n, (PVOID **)&items));
    CHECK(n == 0 && items == NULL);
    OK(PeerEndEnumeration(e));
}

/* Whether the members present (PEER_MEMBER_PRESENT) include both `a` and `b`; a joined copy
   not synchronised yet (PEER_E_GROUP_NOT_READY) has none. */
static int both_present(HGROUP group, PCWSTR a, PCWSTR b) {
    HPEERENUM e = NULL;
    HRESULT hr = PeerGroupEnumMembers(group, PEER_MEMBER_PRESENT, NULL, &e);
    if (hr == PEER_E_GROUP_NOT_READY) return 0;
    OK(hr);
    ULONG n = 64;
    PEER_MEMBER **members = NULL;
    OK(PeerGetNextItem(e, &n, (PVOID **)&members));
    int seen_a = 0, seen_b = 0;
    for (ULONG i = 0; i < n; i++) {
        CHECK(members[i]->dwFlags & PEER_MEMBER_PRESENT);
        seen_a |= weq(members[i]->pwzIdentity, a);
        seen_b |= weq(members[i]->pwzIdentity, b);
    }
    if (members) PeerFreeData(members);
    OK(PeerEndEnumeration(e));
    return seen_a && seen_b;
}

/* Waits until both members are present, taking events meanwhile. */
static void wait_present(Feed *f, HGROUP group, PCWSTR a, PCWSTR b) {
    time_t deadline = time(NULL) + WAIT_SECONDS;
    while (!both_present(group, a, b)) {
        if (time(NULL) > deadline) {
            fprintf(stderr, "the members are not both present within %d s\n", WAIT_SECONDS);
            exit(1);
        }
        pump(f, 50);
    }
}

static void say(const char *line) {
    printf("%s\n", line);
    fflush(stdout);
}

/* ---- the steps ---- */

static int identity(const char *xml_path) {
    PEER_VERSION_DATA version;
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    PWSTR name = NULL, xml = NULL;
    OK(PeerIdentityCreate(u"member", u"Member", 0, &name));
    OK(PeerIdentityGetXML(name, &xml));
    write_wide(xml_path, xml);
    char *name8 = narrow(name);
    say(name8);
    free(name8);
    PeerFreeData(xml);
    PeerFreeData(name);
    OK(PeerGroupShutdown());
    return 0;
}

static int creator(const char *xml_path, const char *invitation_path) {
    PEER_VERSION_DATA version;
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    PWSTR me = NULL;
    OK(PeerIdentityCreate(u"creator", u"Creator", 0, &me));
    PEER_GROUP_PROPERTIES props;
    memset(&props, 0, sizeof props);
    props.dwSize = sizeof props;
    props.pwzCreatorPeerName = me;
    props.pwzClassifier = u"connect";
    props.pwzFriendlyName = u"Connected from C";
    HGROUP group = NULL;
    OK(PeerGroupCreate(&props, &group));

    WCHAR *member_xml = read_wide(xml_path);
    PWSTR invitation = NULL;
    OK(PeerGroupCreateInvitation(group, member_xml, NULL, 0, NULL, &invitation));
    free(member_xml);
    PEER_INVITATION_INFO *info = NULL;
    OK(PeerGroupParseInvitation(invitation, &info));
    WCHAR *member = wdup(info->pwzSubjectPeerName);
    PeerFreeData(info);
    write_wide(invitation_path, invitation);
    PeerFreeData(invitation);

    Feed feed;
    feed_start(&feed, group, member);
    DWORD status = 99;
    OK(PeerGroupGetStatus(group, &status));
    CHECK(status == 0);
    CHECK(connections(group, 0, NULL) == 0);
    EXPECT(PeerGroupConnect(NULL), E_HANDLE);
    OK(PeerGroupConnect(group));
    WAIT_FOR(&feed, feed.status & PEER_GROUP_STATUS_LISTENING);
    OK(PeerGroupGetStatus(group, &status));
    CHECK(status == PEER_GROUP_STATUS_LISTENING);
    /* Connecting again while online changes nothing. */
    OK(PeerGroupConnect(group));
    say("LISTENING");

    /* The member links to this presence, and its member entry, new to this database, arrives. */
    WAIT_FOR(&feed, feed.neighbors_up >= 1 && feed.watched_connected >= 1 && feed.watched_joined >= 1);
    PEER_CONNECTION_INFO seen;
    WAIT_FOR(&feed, connections(group, PEER_CONNECTION_NEIGHBOR, &seen) == 1);
    CHECK(seen.ullConnectionId == feed.connection_id);
    only_neighbour(group, member);
    CHECK(connections(group, PEER_CONNECTION_DIRECT, NULL) == 0);
    OK(PeerGroupGetStatus(group, &status));
    CHECK(status == (PEER_GROUP_STATUS_LISTENING | PEER_GROUP_STATUS_HAS_CONNECTIONS));
    wait_present(&feed, group, me, member);
    say("CONNECTED");

    /* The member opens a direct connection and sends "ping" on it and "hello neighbour" on
       the neighbour connection; "ping" is answered on the direct connection. */
    WAIT_FOR(&feed, feed.direct_up >= 1 && feed.ping_on != 0 && feed.hello_on != 0);
    CHECK(feed.ping_on == feed.direct_id && feed.hello_on == feed.connection_id);
    PEER_CONNECTION_INFO direct;
    CHECK(connections(group, PEER_CONNECTION_DIRECT, &direct) == 1);
    CHECK(direct.ullConnectionId == feed.direct_id);
    OK(PeerGroupSendData(group, feed.direct_id, &CHAT_TYPE, 4, "pong"));
    /* The member closes it. */
    WAIT_FOR(&feed, feed.direct_down >= 1);
    CHECK(connections(group, PEER_CONNECTION_DIRECT, NULL) == 0);
    EXPECT(PeerGroupSendData(group, feed.direct_id, &CHAT_TYPE, 4, "pong"), PEER_E_CONNECTION_NOT_FOUND);
    say("DATA");

    /* The member closes its group and ends: both its connection and its presence go. */
    WAIT_FOR(&feed, feed.neighbors_down >= 1 && feed.watched_disconnected >= 1);
    WAIT_FOR(&feed, connections(group, 0, NULL) == 0);
    say("DISCONNECTED");

    /* A stranger (a member of another group) is turned away; the presence stays up. */
    WAIT_FOR(&feed, feed.authentication_failures >= 1);
    CHECK(connections(group, 0, NULL) == 0);
    OK(PeerGroupGetStatus(group, &status));
    CHECK(status == PEER_GROUP_STATUS_LISTENING);
    say("REFUSED");

    feed_end(&feed);
    OK(PeerGroupClose(group));
    HPEERENUM e = NULL;
    EXPECT(PeerGroupEnumConnections(group, 0, &e), E_HANDLE);
    free(member);
    PeerFreeData(me);
    OK(PeerGroupShutdown());
    say("connect creator: ok");
    return 0;
}

/* The argument rules of the three functions, on a group that is offline and stays so. */
static void argument_rules(HGROUP group) {
    HPEERENUM e = (HPEERENUM)0x1;
    EXPECT(PeerGroupEnumConnections(group, 4, &e), E_INVALIDARG);
    CHECK(e == NULL); /* cleared on failure */
    EXPECT(PeerGroupEnumConnections(group, 0x80000001u, &e), E_INVALIDARG);
    EXPECT(PeerGroupEnumConnections(group, PEER_CONNECTION_NEIGHBOR, NULL), E_INVALIDARG);
    EXPECT(PeerGroupEnumConnections(NULL, PEER_CONNECTION_NEIGHBOR, &e), E_HANDLE);
    EXPECT(PeerGroupConnect(NULL), E_HANDLE);
    EXPECT(PeerGroupConnect((HGROUP)&e), E_HANDLE);

    PEER_ADDRESS a = peer_address("::1", 4000);
    EXPECT(PeerGroupConnectByAddress(NULL, 1, &a), E_HANDLE);
    EXPECT(PeerGroupConnectByAddress(group, 1, NULL), E_INVALIDARG);
    a.dwSize = sizeof a - 4;
    EXPECT(PeerGroupConnectByAddress(group, 1, &a), E_INVALIDARG);
    a.dwSize = 0;
    EXPECT(PeerGroupConnectByAddress(group, 1, &a), E_INVALIDARG);
    a = peer_address("::1", 0); /* port 0 */
    EXPECT(PeerGroupConnectByAddress(group, 1, &a), E_INVALIDARG);
    a = peer_address("::ffff:127.0.0.1", 0);
    EXPECT(PeerGroupConnectByAddress(group, 1, &a), E_INVALIDARG);
    a = peer_address("::", 4000); /* names no one */
    EXPECT(PeerGroupConnectByAddress(group, 1, &a), E_INVALIDARG);
    a = peer_address("::ffff:0.0.0.0", 4000);
    EXPECT(PeerGroupConnectByAddress(group, 1, &a), E_INVALIDARG);
    a = peer_address("::1", 4000);
    a.sin6.sin6_family = AF_INET; /* only AF_INET6: IPv4 goes IPv4-mapped */
    EXPECT(PeerGroupConnectByAddress(group, 1, &a), E_INVALIDARG);
    /* One bad address among good ones spoils the call. */
    PEER_ADDRESS pair[2] = {peer_address("::1", 4000), peer_address("::1", 0)};
    EXPECT(PeerGroupConnectByAddress(group, 2, pair), E_INVALIDARG);
    /* At most 64. */
    PEER_ADDRESS many[65];
    for (int i = 0; i < 65; i++) many[i] = peer_address("::1", 4000 + (unsigned)i);
    EXPECT(PeerGroupConnectByAddress(group, 65, many), E_INVALIDARG);

    /* Nothing of that started anything. */
    DWORD status = 99;
    OK(PeerGroupGetStatus(group, &status));
    CHECK(status == 0);
    CHECK(connections(group, PEER_CONNECTION_NEIGHBOR, NULL) == 0);
}

/* The rules of the direct-connection functions, online, with a neighbour connection `neighbour`. */
static void direct_rules(HGROUP group, PCWSTR me, PCWSTR other, ULONGLONG neighbour) {
    ULONGLONG id = 0;
    EXPECT(PeerGroupOpenDirectConnection(group, me, NULL, &id), PEER_E_CONNECT_SELF);
    EXPECT(PeerGroupOpenDirectConnection(group, other, NULL, NULL), E_INVALIDARG);
    EXPECT(PeerGroupOpenDirectConnection(group, NULL, NULL, &id), E_INVALIDARG);
    EXPECT(PeerGroupOpenDirectConnection(group, u"not a peer name", NULL, &id), E_INVALIDARG);
    EXPECT(PeerGroupOpenDirectConnection(NULL, other, NULL, &id), E_HANDLE);
    PEER_ADDRESS bad = peer_address("::1", 0);
    EXPECT(PeerGroupOpenDirectConnection(group, other, &bad, &id), E_INVALIDARG);
    /* A neighbour connection is no direct one; made-up ids name nothing. */
    EXPECT(PeerGroupCloseDirectConnection(group, neighbour), PEER_E_CONNECTION_NOT_FOUND);
    EXPECT(PeerGroupCloseDirectConnection(group, 0x7777777777ull), PEER_E_CONNECTION_NOT_FOUND);
    EXPECT(PeerGroupCloseDirectConnection(NULL, neighbour), E_HANDLE);
    EXPECT(PeerGroupSendData(group, 0x7777777777ull, &CHAT_TYPE, 4, "ping"), PEER_E_CONNECTION_NOT_FOUND);
    EXPECT(PeerGroupSendData(group, neighbour, NULL, 4, "ping"), E_INVALIDARG);
    EXPECT(PeerGroupSendData(group, neighbour, &CHAT_TYPE, 4, NULL), E_INVALIDARG);
    /* Beyond the bound: refused before anything is read or sent (the pointer is never read). */
    EXPECT(PeerGroupSendData(group, neighbour, &CHAT_TYPE, PEERGROUP_MAX_DATA_LEN + 1, "x"), E_INVALIDARG);
}

/* Exports the membership, then imports it back (the group closed): an existing membership
   needs fOverwrite; the names returned open the group again. */
static void config_round_trip(PCWSTR me, PCWSTR group_name, PCWSTR xml) {
    PWSTR identity = (PWSTR)0x1, group = (PWSTR)0x1;
    EXPECT(PeerGroupImportConfig(xml, u"correct horse", FALSE, &identity, &group), PEER_E_ALREADY_EXISTS);
    CHECK(identity == NULL && group == NULL); /* cleared on failure */
    CHECK(FAILED(PeerGroupImportConfig(xml, u"wrong horse!", TRUE, &identity, &group)));
    EXPECT(PeerGroupImportConfig(NULL, u"correct horse", TRUE, &identity, &group), E_INVALIDARG);
    EXPECT(PeerGroupImportConfig(xml, u"correct horse", TRUE, NULL, &group), E_INVALIDARG);
    OK(PeerGroupImportConfig(xml, u"correct horse", TRUE, &identity, &group));
    CHECK(weq(identity, me) && weq(group, group_name));
    HGROUP opened = NULL;
    OK(PeerGroupOpen(identity, group, NULL, &opened));
    DWORD status = 99;
    OK(PeerGroupGetStatus(opened, &status));
    CHECK(status == 0);
    OK(PeerGroupClose(opened));
    PeerFreeData(identity);
    PeerFreeData(group);
}

static int member(const char *name, const char *invitation_path, const char *ip6, const char *port) {
    PEER_VERSION_DATA version;
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    WCHAR *me = widen(name);
    WCHAR *invitation = read_wide(invitation_path);
    PEER_INVITATION_INFO *info = NULL;
    OK(PeerGroupParseInvitation(invitation, &info));
    WCHAR *creator_name = wdup(info->pwzIssuerPeerName);
    WCHAR *group_name = wdup(info->pwzGroupPeerName);
    PeerFreeData(info);
    HGROUP group = NULL;
    OK(PeerGroupJoin(me, invitation, NULL, &group));
    free(invitation);

    Feed feed;
    feed_start(&feed, group, creator_name);
    argument_rules(group);

    unsigned port_number = (unsigned)atoi(port);
    PEER_ADDRESS creator_address = peer_address(ip6, port_number);
    OK(PeerGroupConnectByAddress(group, 1, &creator_address));
    WAIT_FOR(&feed, feed.neighbors_up >= 1 && feed.watched_connected >= 1);
    CHECK(feed.authentication_failures == 0);

    /* The connection: what the event said, to the creator, at the address dialled. */
    PEER_CONNECTION_INFO seen;
    CHECK(connections(group, PEER_CONNECTION_NEIGHBOR, &seen) == 1);
    CHECK(seen.ullConnectionId == feed.connection_id);
    CHECK(ntohs(seen.address.sin6.sin6_port) == port_number);
    CHECK(memcmp(&seen.address.sin6.sin6_addr, &creator_address.sin6.sin6_addr, sizeof(struct in6_addr)) == 0);
    CHECK(connections(group, 0, NULL) == 1);
    CHECK(connections(group, PEER_CONNECTION_NEIGHBOR | PEER_CONNECTION_DIRECT, NULL) == 1);
    CHECK(connections(group, PEER_CONNECTION_DIRECT, NULL) == 0);
    only_neighbour(group, creator_name);
    DWORD status = 0;
    OK(PeerGroupGetStatus(group, &status));
    CHECK(status == (PEER_GROUP_STATUS_LISTENING | PEER_GROUP_STATUS_HAS_CONNECTIONS));
    /* Once synchronised, both members are present. */
    wait_present(&feed, group, me, creator_name);

    /* A direct connection to the creator over the link this presence has. */
    direct_rules(group, me, creator_name, seen.ullConnectionId);
    ULONGLONG direct = 0;
    OK(PeerGroupOpenDirectConnection(group, creator_name, NULL, &direct));
    CHECK(direct != 0 && direct != seen.ullConnectionId);
    WAIT_FOR(&feed, feed.direct_up >= 1 || feed.direct_failed >= 1);
    CHECK(feed.direct_failed == 0 && feed.direct_id == direct);
    PEER_CONNECTION_INFO d;
    CHECK(connections(group, PEER_CONNECTION_DIRECT, &d) == 1);
    CHECK(d.ullConnectionId == direct && d.dwFlags == PEER_CONNECTION_DIRECT);
    CHECK(connections(group, 0, NULL) == 2);
    /* Data of a type the creator did not register for first: it must not reach it. */
    OK(PeerGroupSendData(group, direct, &OTHER_TYPE, 5, "noise"));
    OK(PeerGroupSendData(group, direct, &CHAT_TYPE, 4, "ping"));
    OK(PeerGroupSendData(group, seen.ullConnectionId, &CHAT_TYPE, 15, "hello neighbour"));
    WAIT_FOR(&feed, feed.pong_on != 0);
    CHECK(feed.pong_on == direct);
    OK(PeerGroupCloseDirectConnection(group, direct));
    WAIT_FOR(&feed, feed.direct_down >= 1);
    CHECK(connections(group, PEER_CONNECTION_DIRECT, NULL) == 0);
    EXPECT(PeerGroupCloseDirectConnection(group, direct), PEER_E_CONNECTION_NOT_FOUND);

    /* The configuration: a password of at least 8 characters. */
    PWSTR xml = (PWSTR)0x1;
    EXPECT(PeerGroupExportConfig(group, u"short", &xml), E_INVALIDARG);
    CHECK(xml == NULL);
    EXPECT(PeerGroupExportConfig(group, NULL, &xml), E_INVALIDARG);
    EXPECT(PeerGroupExportConfig(group, u"correct horse", NULL), E_INVALIDARG);
    EXPECT(PeerGroupExportConfig(NULL, u"correct horse", &xml), E_HANDLE);
    OK(PeerGroupExportConfig(group, u"correct horse", &xml));
    CHECK(xml != NULL && wlen(xml) > 0);

    feed_end(&feed);
    OK(PeerGroupClose(group));
    config_round_trip(me, group_name, xml);
    PeerFreeData(xml);
    free(group_name);
    free(creator_name);
    free(me);
    OK(PeerGroupShutdown());
    say("connect member: ok");
    return 0;
}

static int stranger(const char *ip6, const char *port) {
    PEER_VERSION_DATA version;
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    PWSTR me = NULL;
    OK(PeerIdentityCreate(u"stranger", NULL, 0, &me));
    PEER_GROUP_PROPERTIES props;
    memset(&props, 0, sizeof props);
    props.dwSize = sizeof props;
    props.pwzCreatorPeerName = me;
    props.pwzClassifier = u"elsewhere";
    HGROUP group = NULL;
    OK(PeerGroupCreate(&props, &group));
    Feed feed;
    feed_start(&feed, group, NULL);
    PEER_ADDRESS address = peer_address(ip6, (unsigned)atoi(port));
    OK(PeerGroupConnectByAddress(group, 1, &address));
    WAIT_FOR(&feed, feed.authentication_failures >= 1);
    /* Turned away: the other side said no (or this side found it no member of its group). */
    CHECK(feed.authentication_reason == PEER_E_CONNECTION_NOT_AUTHENTICATED ||
          feed.authentication_reason == PEER_E_CONNECTION_REFUSED);
    CHECK(feed.neighbors_up == 0 && connections(group, 0, NULL) == 0);
    feed_end(&feed);
    OK(PeerGroupClose(group));
    PeerFreeData(me);
    OK(PeerGroupShutdown());
    say("connect stranger: ok");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "identity") == 0) return identity(argv[2]);
    if (argc == 4 && strcmp(argv[1], "creator") == 0) return creator(argv[2], argv[3]);
    if (argc == 6 && strcmp(argv[1], "member") == 0) return member(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 4 && strcmp(argv[1], "stranger") == 0) return stranger(argv[2], argv[3]);
    fprintf(stderr, "usage: see the first comment of connect.c\n");
    return 2;
}
