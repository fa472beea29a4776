/*
 * The simple PNRP API: PeerPnrpStartup .. PeerPnrpShutdown, register, update, resolve,
 * unregister, and their argument checks.
 *
 * Usage: pnrp checks                          argument and session rules (no network)
 *        pnrp register NAME CLOUD PORT        registers at this host's addresses in CLOUD,
 *                                             prints REGISTERED, moves to PORT+1 when a line
 *                                             arrives on stdin (prints UPDATED), unregisters at
 *                                             the end of stdin (prints DONE)
 *        pnrp resolve NAME CLOUD|- HEX        resolves (one endpoint), checks the HRESULT, and
 *                                             on success prints FOUND ADDRESS%SCOPE PORT COMMENT
 *        pnrp resolve-async NAME CLOUD|-      PeerPnrpStartResolve with an eventfd: prints FOUND
 *                                             lines as endpoints come, then END
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

static int checks(void) {
    HREGISTRATION reg = (HREGISTRATION)1;
    ULONG n = 1;
    PEER_PNRP_ENDPOINT_INFO *found = (PEER_PNRP_ENDPOINT_INFO *)1;
    EXPECT(PeerPnrpRegister(u"0.x", NULL, &reg), PEER_E_NOT_INITIALIZED);
    EXPECT(PeerPnrpResolve(u"0.x", NULL, &n, &found), PEER_E_NOT_INITIALIZED);
    EXPECT(PeerPnrpShutdown(), PEER_E_NOT_INITIALIZED);
    EXPECT(PeerPnrpStartup(0x0001), PEER_E_UNSUPPORTED_VERSION);
    OK(PeerPnrpStartup(PNRP_VERSION));

    PEER_PNRP_REGISTRATION_INFO info;
    memset(&info, 0, sizeof info);
    info.pwzCloudName = u"LinkLocal_nowhere0";
    info.cAddresses = PEER_PNRP_AUTO_ADDRESSES;
    info.wPort = 3587;
    EXPECT(PeerPnrpRegister(NULL, &info, &reg), E_INVALIDARG);
    CHECK(reg == NULL); /* cleared on failure */
    EXPECT(PeerPnrpRegister(u"0.x", NULL, &reg), E_INVALIDARG);
    EXPECT(PeerPnrpRegister(u"0.x", &info, NULL), E_INVALIDARG);
    EXPECT(PeerPnrpRegister(u"not a peer name", &info, &reg), PEER_E_INVALID_PEER_NAME);
    /* Automatic addresses need a port; a payload has no medium to travel in. */
    info.wPort = 0;
    EXPECT(PeerPnrpRegister(u"0.x", &info, &reg), E_INVALIDARG);
    info.wPort = 3587;
    BYTE payload[4] = {1, 2, 3, 4};
    info.payload.cbData = sizeof payload;
    info.payload.pbData = payload;
    EXPECT(PeerPnrpRegister(u"0.x", &info, &reg), E_INVALIDARG);
    info.payload.cbData = 0;
    info.payload.pbData = NULL;
    /* An address of an unknown family. */
    struct sockaddr bad;
    memset(&bad, 0, sizeof bad);
    bad.sa_family = AF_UNIX;
    SOCKADDR *addrs[1] = {&bad};
    info.cAddresses = 1;
    info.ppAddresses = addrs;
    EXPECT(PeerPnrpRegister(u"0.x", &info, &reg), E_INVALIDARG);
    /* No such interface here. */
    info.cAddresses = PEER_PNRP_AUTO_ADDRESSES;
    info.ppAddresses = NULL;
    EXPECT(PeerPnrpRegister(u"0.x", &info, &reg), PEER_E_NO_CLOUD);
    /* Global_ is turned off in this home's config.toml ([global] enabled = false). */
    info.pwzCloudName = u"Global_";
    struct sockaddr_in loop4;
    memset(&loop4, 0, sizeof loop4);
    loop4.sin_family = AF_INET;
    loop4.sin_port = htons(4000);
    loop4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    SOCKADDR *loop_addrs[1] = {(SOCKADDR *)&loop4};
    info.cAddresses = 1;
    info.ppAddresses = loop_addrs;
    EXPECT(PeerPnrpRegister(u"0.x", &info, &reg), PEER_E_SERVICE_NOT_AVAILABLE);
    CHECK(reg == NULL);
    n = 1;
    EXPECT(PeerPnrpResolve(u"0.x", u"Global_", &n, &found), PEER_E_SERVICE_NOT_AVAILABLE);
    CHECK(found == NULL);

    EXPECT(PeerPnrpResolve(NULL, NULL, &n, &found), E_INVALIDARG);
    EXPECT(PeerPnrpResolve(u"0.x", u"Global_", NULL, &found), E_INVALIDARG);
    CHECK(found == NULL);
    EXPECT(PeerPnrpResolve(u"0.x", u"Global_", &n, NULL), E_INVALIDARG);
    HRESOLUTION res = (HRESOLUTION)1;
    EXPECT(PeerPnrpStartResolve(u"0.x", u"Global_", 1, (HANDLE)(intptr_t)-1, &res), E_INVALIDARG);
    CHECK(res == NULL);
    int efd = eventfd(0, EFD_CLOEXEC);
    CHECK(efd >= 0);
    EXPECT(PeerPnrpStartResolve(u"0.x", u"LinkLocal_nowhere0", 1, (HANDLE)(intptr_t)efd, &res), PEER_E_NO_CLOUD);
    EXPECT(PeerPnrpStartResolve(u"bad name", u"Global_", 1, (HANDLE)(intptr_t)efd, &res), PEER_E_INVALID_PEER_NAME);
    EXPECT(PeerPnrpStartResolve(u"0.x", u"Global_", 1, (HANDLE)(intptr_t)efd, NULL), E_INVALIDARG);
    close(efd);
    EXPECT(PeerPnrpGetEndpoint((HRESOLUTION)0x12345, &found), E_HANDLE);
    EXPECT(PeerPnrpEndResolve((HRESOLUTION)0x12345), E_HANDLE);
    EXPECT(PeerPnrpUnregister(NULL), E_HANDLE);
    EXPECT(PeerPnrpUnregister((HREGISTRATION)0x12345), E_HANDLE);
    EXPECT(PeerPnrpUpdateRegistration((HREGISTRATION)0x12345, &info), E_HANDLE);
    OK(PeerPnrpShutdown());
    printf("pnrp checks: ok\n");
    return 0;
}

/* Registers `name` in `cloud` at `port`: on this host's addresses in the cloud, or on the
 * IPv4 `address` when one is given (the same port for both, so that an update can move it). */
static int do_register(const char *name, const char *cloud, const char *port, const char *address) {
    OK(PeerPnrpStartup(PNRP_VERSION));
    WCHAR *wname = widen(name), *wcloud = widen(cloud);
    PEER_PNRP_REGISTRATION_INFO info;
    memset(&info, 0, sizeof info);
    info.pwzCloudName = wcloud;
    info.cAddresses = PEER_PNRP_AUTO_ADDRESSES;
    struct sockaddr_in given;
    SOCKADDR *given_addrs[1] = {(SOCKADDR *)&given};
    if (address != NULL) {
        memset(&given, 0, sizeof given);
        given.sin_family = AF_INET;
        given.sin_port = htons((uint16_t)atoi(port));
        CHECK(inet_pton(AF_INET, address, &given.sin_addr) == 1);
        info.cAddresses = 1;
        info.ppAddresses = given_addrs;
    }
    info.wPort = (WORD)atoi(port);
    info.pwzComment = u"from C";
    HREGISTRATION reg = NULL;
    OK(PeerPnrpRegister(wname, &info, &reg));
    CHECK(reg != NULL);
    printf("REGISTERED\n");
    fflush(stdout);
    char line[64];
    if (fgets(line, sizeof line, stdin) != NULL) {
        info.wPort = (WORD)(atoi(port) + 1);
        given.sin_port = htons(info.wPort);
        OK(PeerPnrpUpdateRegistration(reg, &info));
        /* The comment is signed with the rest: changing it is not an update. */
        info.pwzComment = u"another";
        EXPECT(PeerPnrpUpdateRegistration(reg, &info), E_INVALIDARG);
        printf("UPDATED\n");
        fflush(stdout);
        while (fgets(line, sizeof line, stdin) != NULL) {
        }
    }
    OK(PeerPnrpUnregister(reg));
    EXPECT(PeerPnrpUnregister(reg), E_HANDLE);
    OK(PeerPnrpShutdown());
    free(wname);
    free(wcloud);
    printf("DONE\n");
    return 0;
}

static void print_endpoint(const PEER_PNRP_ENDPOINT_INFO *e) {
    char *comment = narrow(e->pwzComment);
    const struct sockaddr *sa = e->ppAddresses[0];
    char text[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        CHECK(inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text) != NULL);
        printf("FOUND %s%%%u %u %s\n", text, sin6->sin6_scope_id, ntohs(sin6->sin6_port), comment);
    } else {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        CHECK(inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text) != NULL);
        printf("FOUND %s%%0 %u %s\n", text, ntohs(sin->sin_port), comment);
    }
    free(comment);
}

static int do_resolve(const char *name, const char *cloud, const char *hex) {
    OK(PeerPnrpStartup(PNRP_VERSION));
    WCHAR *wname = widen(name), *wcloud = strcmp(cloud, "-") == 0 ? NULL : widen(cloud);
    ULONG n = 1;
    PEER_PNRP_ENDPOINT_INFO *found = NULL;
    HRESULT expected = (HRESULT)strtoul(hex, NULL, 16);
    EXPECT(PeerPnrpResolve(wname, wcloud, &n, &found), expected);
    if (SUCCEEDED(expected)) {
        CHECK(n == 1 && found != NULL);
        CHECK(found[0].cAddresses >= 1 && found[0].payload.cbData == 0);
        char *peer = narrow(found[0].pwzPeerName);
        CHECK(strcmp(peer, name) == 0);
        free(peer);
        print_endpoint(&found[0]);
        PeerFreeData(found);
    } else {
        CHECK(found == NULL);
    }
    OK(PeerPnrpShutdown());
    free(wname);
    free(wcloud);
    return 0;
}

static int resolve_async(const char *name, const char *cloud) {
    OK(PeerPnrpStartup(PNRP_VERSION));
    WCHAR *wname = widen(name), *wcloud = strcmp(cloud, "-") == 0 ? NULL : widen(cloud);
    int efd = eventfd(0, EFD_CLOEXEC);
    CHECK(efd >= 0);
    HRESOLUTION res = NULL;
    OK(PeerPnrpStartResolve(wname, wcloud, 1, (HANDLE)(intptr_t)efd, &res));
    CHECK(res != NULL);
    for (int rounds = 0; rounds < 100; rounds++) {
        struct pollfd pfd = {.fd = efd, .events = POLLIN, .revents = 0};
        CHECK(poll(&pfd, 1, 10000) == 1); /* the resolution ends within 5 s */
        uint64_t count;
        CHECK(read(efd, &count, sizeof count) == (ssize_t)sizeof count);
        for (;;) {
            PEER_PNRP_ENDPOINT_INFO *e = NULL;
            HRESULT hr = PeerPnrpGetEndpoint(res, &e);
            if (hr == S_OK) {
                print_endpoint(e);
                PeerFreeData(e);
                continue;
            }
            CHECK(e == NULL);
            if (hr == PEER_E_NO_MORE) {
                EXPECT(PeerPnrpGetEndpoint(res, &e), PEER_E_NO_MORE);
                OK(PeerPnrpEndResolve(res));
                EXPECT(PeerPnrpEndResolve(res), E_HANDLE);
                close(efd);
                OK(PeerPnrpShutdown());
                free(wname);
                free(wcloud);
                printf("END\n");
                return 0;
            }
            EXPECT(hr, PEER_S_NO_EVENT_DATA);
            break;
        }
    }
    fprintf(stderr, "the resolution never ended\n");
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "checks") == 0) return checks();
    if (argc == 5 && strcmp(argv[1], "register") == 0) return do_register(argv[2], argv[3], argv[4], NULL);
    if (argc == 6 && strcmp(argv[1], "register") == 0) return do_register(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 5 && strcmp(argv[1], "resolve") == 0) return do_resolve(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "resolve-async") == 0) return resolve_async(argv[2], argv[3]);
    if (argc == 1) return checks();
    fprintf(stderr, "usage: pnrp checks | register NAME CLOUD PORT | resolve NAME CLOUD|- HEX\n");
    return 2;
}
