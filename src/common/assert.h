/* SPDX-License-Identifier: MIT */
/*
 * assert.h: SR_ASSERT, the debug check of an invariant the code relies on
 * (batch.c's ordering rules, fanout_depth, the close-doomed points).
 *
 * Live in Debug builds (no NDEBUG: the ASan+UBSan test round) and wherever
 * SR_ASSERTS is defined (the fuzzers); compiled out in Release, where the
 * expression is not evaluated, so it must have no side effect. A failed
 * check prints the file, line and expression and aborts: an invariant that
 * does not hold is a bug to see at once, not an error to handle.
 */
#ifndef SR_COMMON_ASSERT_H
#define SR_COMMON_ASSERT_H

#if !defined(NDEBUG) || defined(SR_ASSERTS)
#include <stdio.h>
#include <stdlib.h>
#define SR_ASSERTS_LIVE 1
#define SR_ASSERT(expr)                                                                            \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "%s:%d: %s: invariant broken: %s\n", __FILE__, __LINE__, __func__,     \
                    #expr);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#else
#define SR_ASSERTS_LIVE 0
#define SR_ASSERT(expr) ((void)sizeof(!(expr)))
#endif

#endif
