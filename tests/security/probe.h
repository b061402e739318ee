/* Shared by the security probes (the .c files beside this one), which tests/test_security.py runs
 * under every profile with libpyalloc.so preloaded.
 *
 * Probes are built with -O0: at higher levels the compiler may delete stores into memory
 * that is freed next, or fold reads of freed memory, and the probe would test nothing.
 * The misusing accesses also go through volatile pointers for the same reason. */
#ifndef PROBE_H
#define PROBE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The address the allocator is expected to name in its abort line. The test compares the
 * two, so a probe passes only when pyalloc reports the block the probe actually misused.
 * Flushed at once: an abort discards whatever stdio still buffers. */
static inline void probe_target(const void *p) {
    printf("target %p\n", p);
    fflush(stdout);
}

/* Printed last: its presence proves the program ran on past the misuse. */
static inline void probe_survived(void) {
    puts("survived");
    fflush(stdout);
}

/* Mallocs and frees `size` bytes until the allocator hands back `freed` (quarantine holds a
 * freed slot back for up to 4096 later frees, or its byte budget), then reports how long
 * that took: reuse is when pyalloc checks the slot for writes after free. */
static inline void probe_await_reuse(const void *freed, size_t size) {
    for (int i = 1; i <= 1000000; i++) {
        void *q = malloc(size);
        if (q == freed) {
            printf("slot reused after %d mallocs\n", i);
            return;
        }
        free(q);
    }
    puts("slot never reused");
}

#endif
