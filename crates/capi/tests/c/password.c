/*
 * Password groups through the C ABI, between two hosts (network namespaces on one link): a
 * group created with pwzGroupPassword, PeerGroupCreatePasswordInvitation, and
 * PeerGroupPasswordJoin, which finds the host's member in the group's link-local cloud and
 * proves the password. Every wait is bounded, every allocation freed (valgrind checks it).
 *
 * Usage (the test runs the steps in this order, each process in its own $PEERGROUP_HOME):
 *   password host PASSWORD INVFILE   creates a LinkLocal_ group with PASSWORD, writes a password
 *                                    invitation (UTF-16) to INVFILE, connects; prints
 *                                    LISTENING, REFUSED once a wrong password was turned away
 *                                    (and PeerGroupResumePasswordAuthentication checked),
 *                                    JOINED once a member that joined by password connected,
 *                                    then "password host: ok" when it left
 *   password invite PASSWORD INVFILE the host's offline part alone: the group and its
 *                                    invitation, then "password invite: ok"
 *   password guest INVFILE PASSWORD refused|joined
 *                                    joins with PASSWORD: refused (PEER_E_NOT_AUTHORIZED,
 *                                    nothing stored) or joined (then again:
 *                                    PEER_S_ALREADY_A_MEMBER; connects and becomes ready)
 */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* How long any one wait may take (valgrind makes everything slower). */
#define WAIT_SECONDS 120

static void say(const char *line) {
    printf("%s\n", line);
    fflush(stdout);
}

/* Events of `group` on an eventfd. */
typedef struct {
    int fd;
    HPEEREVENT events;
    int refused, connected, disconnected;
} Feed;

static void feed_start(Feed *f, HGROUP group) {
    memset(f, 0, sizeof *f);
    f->fd = eventfd(0, EFD_CLOEXEC);
    CHECK(f->fd >= 0);
    PEER_GROUP_EVENT_REGISTRATION regs[2] = {{PEER_GROUP_EVENT_AUTHENTICATION_FAILED, NULL},
                                             {PEER_GROUP_EVENT_MEMBER_CHANGED, NULL}};
    OK(PeerGroupRegisterEvent(group, (HANDLE)(intptr_t)f->fd, 2, regs, &f->events));
}

static void pump(Feed *f, int ms) {
    struct pollfd pfd = {f->fd, POLLIN, 0};
    int ready = poll(&pfd, 1, ms);
    CHECK(ready >= 0 || errno == EINTR);
    if (ready == 1) {
        uint64_t signals = 0;
        CHECK(read(f->fd, &signals, sizeof signals) == (ssize_t)sizeof signals);
    }
    PEER_GROUP_EVENT_DATA *e = NULL;
    while (PeerGroupGetEventData(f->events, &e) == S_OK) {
        if (e->eventType == PEER_GROUP_EVENT_AUTHENTICATION_FAILED) {
            CHECK(FAILED(e->hrConnectionFailedReason));
            f->refused++;
        } else if (e->eventType == PEER_GROUP_EVENT_MEMBER_CHANGED) {
            if (e->memberChangeData.changeType == PEER_MEMBER_CONNECTED) f->connected++;
            if (e->memberChangeData.changeType == PEER_MEMBER_DISCONNECTED) f->disconnected++;
        }
        PeerFreeData(e);
    }
}


static HRESULT create(PCWSTR me, PCWSTR classifier, PCWSTR password, HGROUP *group) {
    PEER_GROUP_PROPERTIES props;
    memset(&props, 0, sizeof props);
    props.dwSize = sizeof props;
    props.pwzCreatorPeerName = (PWSTR)me;
    props.pwzClassifier = (PWSTR)classifier;
    props.pwzCloud = u"LinkLocal_";
    props.dwAuthenticationSchemes = PEER_GROUP_PASSWORD_AUTHENTICATION;
    props.pwzGroupPassword = (PWSTR)password;
    return PeerGroupCreate(&props, group);
}

/* The offline part of the host: the argument rules, the group, its password invitation. */
static HGROUP make_group(const char *password, const char *invitation_path, PWSTR *creator) {
    PWSTR me = NULL;
    OK(PeerIdentityCreate(u"host", u"Host", 0, &me));
    HGROUP group = NULL;
    /* Too short a password; the password scheme without one. */
    EXPECT(create(me, u"short", u"short", &group), PEER_E_PASSWORD_DOES_NOT_MEET_POLICY);
    CHECK(group == NULL);
    EXPECT(create(me, u"none", NULL, &group), PEER_E_INVALID_GROUP_PROPERTIES);
    WCHAR *wpassword = widen(password);
    OK(create(me, u"secret", wpassword, &group));
    free(wpassword);

    PWSTR invitation = (PWSTR)0x1;
    EXPECT(PeerGroupCreatePasswordInvitation(group, NULL), E_INVALIDARG);
    EXPECT(PeerGroupCreatePasswordInvitation(NULL, &invitation), E_HANDLE);
    CHECK(invitation == NULL);
    OK(PeerGroupCreatePasswordInvitation(group, &invitation));
    write_wide(invitation_path, invitation);
    PeerFreeData(invitation);
    *creator = me;
    return group;
}

static int invite(const char *password, const char *invitation_path) {
    PEER_VERSION_DATA version;
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    PWSTR me = NULL;
    HGROUP group = make_group(password, invitation_path, &me);
    OK(PeerGroupClose(group));
    PeerFreeData(me);
    OK(PeerGroupShutdown());
    say("password invite: ok");
    return 0;
}

static int host(const char *password, const char *invitation_path) {
    PEER_VERSION_DATA version;
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    PWSTR me = NULL;
    HGROUP group = make_group(password, invitation_path, &me);
    Feed feed;
    feed_start(&feed, group);
    OK(PeerGroupConnect(group));
    say("LISTENING");
    WAIT_FOR(&feed, feed.refused >= 1);
    /* Windows 7 resumed a password authentication held up by that event; here the password is
       proved inside the joiner's PeerGroupPasswordJoin, so nothing waits: S_OK, handles checked. */
    EXPECT(PeerGroupResumePasswordAuthentication(NULL, feed.events), E_HANDLE);
    EXPECT(PeerGroupResumePasswordAuthentication(group, NULL), E_HANDLE);
    EXPECT(PeerGroupResumePasswordAuthentication(group, (HPEEREVENT)group), E_HANDLE);
    OK(PeerGroupResumePasswordAuthentication(group, feed.events));
    say("REFUSED");
    WAIT_FOR(&feed, feed.connected >= 1);
    say("JOINED");
    WAIT_FOR(&feed, feed.disconnected >= 1);
    OK(PeerGroupUnregisterEvent(feed.events));
    close(feed.fd);
    OK(PeerGroupClose(group));
    PeerFreeData(me);
    OK(PeerGroupShutdown());
    say("password host: ok");
    return 0;
}

/* How many groups `me` has. */
static ULONG groups_of(PCWSTR me) {
    HPEERENUM e = NULL;
    OK(PeerEnumGroups(me, &e));
    ULONG n = 0;
    OK(PeerGetItemCount(e, &n));
    OK(PeerEndEnumeration(e));
    return n;
}

static int guest(const char *invitation_path, const char *password, const char *expect) {
    PEER_VERSION_DATA version;
    OK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    PWSTR me = NULL;
    OK(PeerIdentityCreate(u"guest", u"Guest", 0, &me));
    WCHAR *invitation = read_wide(invitation_path);
    WCHAR *wpassword = widen(password);
    HGROUP group = (HGROUP)0x1;
    EXPECT(PeerGroupPasswordJoin(me, invitation, NULL, NULL, &group), E_INVALIDARG);
    CHECK(group == NULL);
    EXPECT(PeerGroupPasswordJoin(me, u"not an invitation", wpassword, NULL, &group), PEER_E_INVITATION_NOT_TRUSTED);
    if (strcmp(expect, "refused") == 0) {
        EXPECT(PeerGroupPasswordJoin(me, invitation, wpassword, NULL, &group), PEER_E_NOT_AUTHORIZED);
        CHECK(group == NULL && groups_of(me) == 0);
    } else {
        OK(PeerGroupPasswordJoin(me, invitation, wpassword, NULL, &group));
        CHECK(groups_of(me) == 1);
        HGROUP again = NULL;
        EXPECT(PeerGroupPasswordJoin(me, invitation, wpassword, NULL, &again), PEER_S_ALREADY_A_MEMBER);
        OK(PeerGroupClose(again));
        /* Joined, not ready: the group's data comes with the first synchronisation. */
        PEER_GROUP_PROPERTIES *props = NULL;
        EXPECT(PeerGroupGetProperties(group, &props), PEER_E_GROUP_NOT_READY);
        Feed feed;
        feed_start(&feed, group);
        OK(PeerGroupConnect(group));
        WAIT_FOR(&feed, feed.connected >= 1 && PeerGroupGetProperties(group, &props) == S_OK);
        CHECK(props->dwAuthenticationSchemes & PEER_GROUP_PASSWORD_AUTHENTICATION);
        CHECK(props->pwzGroupPassword == NULL); /* never handed out */
        PeerFreeData(props);
        OK(PeerGroupUnregisterEvent(feed.events));
        close(feed.fd);
        OK(PeerGroupClose(group));
    }
    free(wpassword);
    free(invitation);
    PeerFreeData(me);
    OK(PeerGroupShutdown());
    printf("password guest: %s\n", expect);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "host") == 0) return host(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "invite") == 0) return invite(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "guest") == 0) return guest(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: see the first comment of password.c\n");
    return 2;
}
