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

/* ---- files of UTF-16 text ---- */

static inline void write_wide(const char *path, PCWSTR text) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(text, sizeof(WCHAR), wlen(text), f) == wlen(text));
    CHECK(fclose(f) == 0);
}

/* The text of a file written by write_wide, NUL-terminated; free() it. */
static inline WCHAR *read_wide(const char *path) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long size = ftell(f);
    CHECK(size >= 0 && size % (long)sizeof(WCHAR) == 0);
    rewind(f);
    size_t units = (size_t)size / sizeof(WCHAR);
    WCHAR *text = malloc((units + 1) * sizeof(WCHAR));
    CHECK(text != NULL);
    CHECK(fread(text, sizeof(WCHAR), units, f) == units);
    text[units] = 0;
    fclose(f);
    return text;
}

/* Takes events with the program's own pump(feed, ms) until `cond` holds; failing after the
   program's WAIT_SECONDS. */
#define WAIT_FOR(feed, cond)                                                                        \
    do {                                                                                            \
        time_t deadline_ = time(NULL) + WAIT_SECONDS;                                               \
        while (!(cond)) {                                                                           \
            if (time(NULL) > deadline_) {                                                           \
                fprintf(stderr, "%s:%d: not within %d s: %s\n", __FILE__, __LINE__, WAIT_SECONDS,   \
                        #cond);                                                                     \
                exit(1);                                                                            \
            }                                                                                       \
            pump(feed, 250);                                                                        \
        }                                                                                           \
    } while (0)

#endif
