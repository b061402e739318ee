/* realloc keeps the contents: grown from 1 byte to 1 MiB in small steps and shrunk back
 * (crossing every size class and the small/large boundary both ways), between every pair
 * of sizes around class boundaries, and for large blocks grown far (mremap territory). */
#include "common.h"

/* Sizes at and around every class boundary: 16-byte steps to 128, then 4 per power of two,
 * and a fifth an eighth above 1, 2 and 4 KiB. */
static size_t boundaries[256];
static size_t nboundaries;

static void add_boundary(size_t s) {
    if (s > 1) boundaries[nboundaries++] = s - 1;
    boundaries[nboundaries++] = s;
    boundaries[nboundaries++] = s + 1;
}

static char *resize(char *p, size_t old, size_t n, uint64_t tag) {
    char *q = realloc(p, n);
    CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", old, n);
    CHECK((uintptr_t)q % 16 == 0, "realloc result %p misaligned", (void *)q);
    size_t keep = old < n ? old : n;
    size_t bad = check_pattern(q, keep, tag);
    CHECK(bad == keep, "realloc %zu -> %zu lost byte %zu", old, n, bad);
    CHECK(malloc_usable_size(q) >= n, "usable size below %zu", n);
    fill_pattern(q, n, tag);
    return q;
}

int main(void) {
    for (size_t s = 16; s <= 128; s += 16) add_boundary(s);
    for (size_t pow = 128; pow < ((size_t)256 << 10); pow *= 2)
        for (size_t k = 1; k <= 4; k++) add_boundary(pow + k * (pow / 4));
    for (size_t pow = 1024; pow <= 4096; pow *= 2) add_boundary(pow + pow / 8);

    /* 1 byte -> 1 MiB -> 1 byte, about 6% per step, with a live neighbour allocated at
     * each step so in-place growth cannot be taken for granted. */
    uint64_t tag = 7;
    size_t n = 1;
    char *p = malloc(n);
    fill_pattern(p, n, tag);
    void *neighbours[512];
    int nn = 0;
    while (n < ((size_t)1 << 20)) {
        size_t next = n + n / 16 + 1;
        p = resize(p, n, next, tag);
        n = next;
        if (nn < 512) neighbours[nn++] = malloc(n / 2 + 1);
    }
    while (n > 1) {
        size_t next = n - n / 16 - 1;
        if (next < 1) next = 1;
        p = resize(p, n, next, tag);
        n = next;
    }
    free(p);
    for (int i = 0; i < nn; i++) free(neighbours[i]);

    /* Every ordered pair of boundary sizes, plus jumps into and out of the large range. */
    for (size_t i = 0; i < nboundaries; i += 3) {
        for (size_t j = 0; j < nboundaries; j += 2) {
            size_t a = boundaries[i], b = boundaries[j];
            char *q = malloc(a);
            CHECK(q != NULL, "malloc");
            fill_pattern(q, a, a ^ b);
            q = resize(q, a, b, a ^ b);
            q = resize(q, b, a, a ^ b);
            free(q);
        }
    }
    static const size_t large[] = {300000, (size_t)1 << 20, (size_t)3 << 20, (size_t)64 << 20, 262145, 262144, 5000};
    n = 100;
    p = malloc(n);
    fill_pattern(p, n, 99);
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
        p = resize(p, n, large[i], 99);
        n = large[i];
    }
    free(p);

    /* realloc of aligned blocks keeps contents too. */
    for (size_t align = 32; align <= 65536; align *= 4) {
        char *q = aligned_alloc(align, 100);
        CHECK(q != NULL, "aligned_alloc");
        fill_pattern(q, 100, align);
        q = resize(q, 100, 100000, align);
        q = resize(q, 100000, 50, align);
        free(q);
    }
    printf("OK\n");
    return 0;
}
