/* Every allocation function returns 16-byte aligned memory for every size, and the memalign
 * family honours alignments from 16 bytes to 4 MiB at several sizes. Each block is written
 * in full and its usable size checked, so an under-sized aligned block shows up too. */
#include "common.h"

#include <unistd.h>

static const size_t sizes[] = {0,    1,     8,     15,     16,     17,     24,      31,      32,      33,
                               48,   63,    64,    100,    127,    128,    129,     200,     255,     256,
                               257,  500,   1000,  1024,   1025,   2000,   4095,    4096,    4097,    10000,
                               65535, 65536, 65537, 100000, 200000, 262143, 262144, 262145, 1000000, 5000000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void check_block(const char *fn, void *p, size_t align, size_t n) {
    CHECK(p != NULL, "%s(%zu) with alignment %zu returned NULL", fn, n, align);
    CHECK((uintptr_t)p % align == 0, "%s(%zu) = %p is not %zu-aligned", fn, n, p, align);
    size_t u = malloc_usable_size(p);
    CHECK(u >= n, "%s(%zu): usable size %zu is too small", fn, n, u);
    memset(p, 0x5a, n);
}

typedef void *(*aligned_fn)(size_t, size_t);

static void *call_posix_memalign(size_t align, size_t n) {
    void *p = NULL;
    int rc = posix_memalign(&p, align, n);
    CHECK(rc == 0, "posix_memalign(%zu, %zu) = %d", align, n, rc);
    return p;
}

int main(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        void *p;
        check_block("malloc", p = malloc(n), 16, n), free(p);
        check_block("calloc", p = calloc(1, n), 16, n), free(p);
        check_block("calloc(n,1)", p = calloc(n, 1), 16, n), free(p);
        check_block("realloc(NULL)", p = realloc(NULL, n), 16, n);
        void *q = realloc(p, n + 1000);
        check_block("realloc", q, 16, n + 1000), free(q);
        check_block("reallocarray", p = reallocarray(NULL, n, 1), 16, n), free(p);
        check_block("valloc", p = valloc(n), page, n), free(p);
        check_block("pvalloc", p = pvalloc(n), page, (n + page - 1) & ~(page - 1)), free(p);
        check_block("memalign(16)", p = memalign(16, n), 16, n), free(p);
        check_block("memalign(8)", p = memalign(8, n), 16, n), free(p);
        check_block("aligned_alloc(16)", p = aligned_alloc(16, n), 16, n), free(p);
        check_block("posix_memalign(16)", p = call_posix_memalign(16, n), 16, n), free(p);
        check_block("posix_memalign(8)", p = call_posix_memalign(8, n), 16, n), free(p);
    }

    /* Many live blocks at once, so later ones come from the middle of slabs. */
    static void *live[4096];
    for (int i = 0; i < 4096; i++) check_block("malloc", live[i] = malloc((size_t)(i * 37) % 3000), 16, (size_t)(i * 37) % 3000);
    for (int i = 0; i < 4096; i++) free(live[i]);

    static const size_t asizes[] = {0, 1, 24, 100, 1000, 5000, 70000, 300000};
    static const struct { const char *name; aligned_fn fn; } fns[] = {
        {"memalign", memalign}, {"aligned_alloc", aligned_alloc}, {"posix_memalign", call_posix_memalign}};
    for (size_t align = 16; align <= ((size_t)4 << 20); align *= 2) {
        for (size_t f = 0; f < 3; f++) {
            void *blocks[3 * sizeof asizes / sizeof asizes[0]];
            int nb = 0;
            for (int rep = 0; rep < 3; rep++)
                for (size_t i = 0; i < sizeof asizes / sizeof asizes[0]; i++) {
                    void *p = fns[f].fn(align, asizes[i]);
                    check_block(fns[f].name, p, align, asizes[i]);
                    blocks[nb++] = p;
                }
            for (int i = 0; i < nb; i++) free(blocks[i]);
            /* sizes around the alignment itself */
            for (int d = -1; d <= 1; d++) {
                size_t n = align + (size_t)d;
                void *p = fns[f].fn(align, n);
                check_block(fns[f].name, p, align, n);
                free(p);
            }
        }
    }

    /* glibc 2.36 rounds a non-power-of-two memalign alignment up to the next power of two. */
    static const size_t odd[][2] = {{24, 32}, {48, 64}, {100, 128}, {1000, 1024}, {3000, 4096}, {70000, 131072}};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        for (int rep = 0; rep < 8; rep++) {
            void *p = memalign(odd[i][0], 40);
            check_block("memalign(non-power-of-two)", p, odd[i][1], 40);
            void *q = aligned_alloc(odd[i][0], 40);
            check_block("aligned_alloc(non-power-of-two)", q, odd[i][1], 40);
            free(p);
            free(q);
        }
    }
    printf("OK\n");
    return 0;
}
