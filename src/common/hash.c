/* SPDX-License-Identifier: MIT */
/*
 * hash.c: SipHash-1-3 (64-bit output) and the process-wide random key used
 * by sr_hash, plus sr_random_bytes (getrandom, retried on EINTR and short
 * reads, with /dev/urandom as a fallback on kernels without the syscall).
 *
 * SipHash-1-3 (one compression round per 8-byte block, three finalisation
 * rounds) is the variant Rust, Swift, Python and OCaml use for hash tables:
 * fast on short keys and still keyed, so without the key a client cannot
 * compute names that collide. The key is drawn once per process under
 * pthread_once, so any thread may call sr_hash first.
 */
#include "common/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL64(v1, 13);                                                                       \
        v1 ^= v0;                                                                                  \
        v0 = ROTL64(v0, 32);                                                                       \
        v2 += v3;                                                                                  \
        v3 = ROTL64(v3, 16);                                                                       \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL64(v3, 21);                                                                       \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL64(v1, 17);                                                                       \
        v1 ^= v2;                                                                                  \
        v2 = ROTL64(v2, 32);                                                                       \
    } while (0)

/* Little-endian 64-bit load from any alignment. */
static uint64_t load_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

uint64_t sr_siphash13(const void *s, size_t len, const uint8_t key[16]) {
    const uint8_t *in = s;
    const uint64_t k0 = load_le64(key);
    const uint64_t k1 = load_le64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;

    /* Index arithmetic rather than pointer ends, so that (NULL, 0) is
     * fine: no arithmetic is ever done on the pointer when len is 0. */
    const size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = load_le64(in + i);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }

    /* The last block: the remaining 0..7 bytes, and the length's low byte
     * in the top byte. */
    uint64_t b = (uint64_t)len << 56;
    if (len & 7) in += full;
    switch (len & 7) {
    case 7: b |= (uint64_t)in[6] << 48; /* fall through */
    case 6: b |= (uint64_t)in[5] << 40; /* fall through */
    case 5: b |= (uint64_t)in[4] << 32; /* fall through */
    case 4: b |= (uint64_t)in[3] << 24; /* fall through */
    case 3: b |= (uint64_t)in[2] << 16; /* fall through */
    case 2: b |= (uint64_t)in[1] << 8;  /* fall through */
    case 1: b |= (uint64_t)in[0]; break;
    default: break;
    }
    v3 ^= b;
    SIPROUND;
    v0 ^= b;

    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* Reads n bytes of /dev/urandom; for kernels older than getrandom (3.17). */
static int urandom_read(uint8_t *p, size_t n) {
    int fd;
    do {
        fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return -1;
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            close(fd);
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    close(fd);
    return 0;
}

int sr_random_bytes(void *buf, size_t n) {
    uint8_t *p = buf;
    if (n > 0 && p == NULL) return -1;
    while (n > 0) {
        /* getrandom returns at most 32 MiB per call, and may be cut short
         * by a signal; loop until everything is filled. */
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOSYS) return urandom_read(p, n);
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static pthread_once_t process_key_once = PTHREAD_ONCE_INIT;
static uint8_t process_key[16];

static void process_key_init(void) {
    if (sr_random_bytes(process_key, sizeof process_key) == 0) return;
    /* No kernel randomness at all (seccomp, no /dev): a key from the clock,
     * the pid and an address (ASLR) is guessable but still better than a
     * fixed one, and hashing must not fail. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t mix[4] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, (uint64_t)getpid(),
                       (uint64_t)(uintptr_t)&ts};
    static const uint8_t fixed[16] = {0x73, 0x73, 0x65, 0x72, 0x6f, 0x6f, 0x6d, 0x73,
                                      0x2d, 0x66, 0x61, 0x6c, 0x6c, 0x62, 0x61, 0x63};
    uint64_t a = sr_siphash13(mix, sizeof mix, fixed);
    uint64_t b = sr_siphash13(&a, sizeof a, fixed) ^ a;
    memcpy(process_key, &a, 8);
    memcpy(process_key + 8, &b, 8);
}

uint64_t sr_hash(const void *s, size_t len) {
    pthread_once(&process_key_once, process_key_init);
    return sr_siphash13(s, len, process_key);
}
