/* Helpers shared by the C test programs: checks that print the failing line and exit 1. */
#ifndef PEERGROUP_TEST_COMMON_H
#define PEERGROUP_TEST_COMMON_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uchar.h>

#include "p2p.h"

#define EXPECT(expr, expected)                                                                      \
    do {                                                                                            \
        HRESULT hr_ = (expr);                                                                       \
        if (hr_ != (HRESULT)(expected)) {                                                           \
            fprintf(stderr, "%s:%d: %s\n  returned 0x%08X, expected %s (0x%08X)\n", __FILE__,       \
                    __LINE__, #expr, (unsigned)hr_, #expected, (unsigned)(expected));               \
            exit(1);                                                                                \
        }                                                                                           \
    } while (0)

#define OK(expr) EXPECT(expr, S_OK)

#define CHECK(cond)                                                                                 \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                \
            exit(1);                                                                                \
        }                                                                                           \
    } while (0)

/* Length of a UTF-16 string. */
static inline size_t wlen(PCWSTR s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

/* Whether two UTF-16 strings are equal. */
static inline int weq(PCWSTR a, PCWSTR b) {
    size_t n = wlen(a);
    return n == wlen(b) && memcmp(a, b, n * sizeof(WCHAR)) == 0;
}

/* An ASCII copy of a UTF-16 string (other characters become '?'); free() it. */
static inline char *narrow(PCWSTR s) {
    size_t n = wlen(s);
    char *out = malloc(n + 1);
    CHECK(out != NULL);
    for (size_t i = 0; i < n; i++) out[i] = s[i] < 128 ? (char)s[i] : '?';
    out[n] = 0;
    return out;
}

/* A UTF-16 copy of an ASCII string; free() it. */
static inline WCHAR *widen(const char *s) {
    size_t n = strlen(s);
    WCHAR *out = malloc((n + 1) * sizeof(WCHAR));
    CHECK(out != NULL);
    for (size_t i = 0; i <= n; i++) out[i] = (WCHAR)(unsigned char)s[i];
    return out;
}

/* Now plus `seconds`, as a FILETIME (100 ns since 1601). */
static inline FILETIME filetime_in(long long seconds) {
    unsigned long long ticks = ((unsigned long long)time(NULL) + 11644473600ULL + (unsigned long long)seconds) * 10000000ULL;
    FILETIME ft = {(DWORD)ticks, (DWORD)(ticks >> 32)};
    return ft;
}

static inline int guid_eq(const GUID *a, const GUID *b) { return memcmp(a, b, sizeof(GUID)) == 0; }

/* Creates and opens a group of `creator` with its defaults and `classifier`; its peer name goes
   to `*name` (free() it). */
static inline HGROUP create_group(PCWSTR creator, PCWSTR classifier, WCHAR **name) {
    PEER_GROUP_PROPERTIES props;
    memset(&props, 0, sizeof props);
    props.dwSize = sizeof props;
    props.pwzCreatorPeerName = (PWSTR)creator;
    props.pwzClassifier = (PWSTR)classifier;
    HGROUP group = NULL;
    OK(PeerGroupCreate(&props, &group));
    PEER_GROUP_PROPERTIES *got = NULL;
    OK(PeerGroupGetProperties(group, &got));
    size_t bytes = (wlen(got->pwzGroupPeerName) + 1) * sizeof(WCHAR);
    *name = malloc(bytes);
    CHECK(*name != NULL);
    memcpy(*name, got->pwzGroupPeerName, bytes);
    PeerFreeData(got);
    return group;
}

#endif
