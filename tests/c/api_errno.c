/* Impossible requests fail with NULL and errno ENOMEM (EINVAL for bad alignments) from
 * every function, leave existing blocks intact, and posix_memalign reports through its
 * return value without touching *out (nor errno, for EINVAL). */
#include "common.h"

#include <stdint.h>

#define EXPECT_FAIL(expr, err)                                                                  \
    do {                                                                                        \
        errno = 0;                                                                              \
        void *r_ = (expr);                                                                      \
        int e_ = errno;                                                                         \
        CHECK(r_ == NULL, "%s returned %p, expected NULL", #expr, r_);                          \
        CHECK(e_ == (err), "%s set errno %d (%s), expected %d", #expr, e_, strerror(e_), err); \
    } while (0)

static void expect_posix_memalign(size_t align, size_t n, int want) {
    void *out = (void *)0x1234;
    errno = 777;
    int rc = posix_memalign(&out, align, n);
    CHECK(rc == want, "posix_memalign(%zu, %zu) returned %d, expected %d", align, n, rc, want);
    /* EINVAL is reported through the return value alone; glibc sets errno on ENOMEM. */
    if (want == EINVAL) CHECK(errno == 777, "posix_memalign(%zu, %zu) changed errno to %d", align, n, errno);
    CHECK(out == (void *)0x1234, "posix_memalign(%zu, %zu) wrote *out on failure", align, n);
}

int main(void) {
    const size_t big = (size_t)PTRDIFF_MAX + 1;
    const size_t half = SIZE_MAX / 2 + 1;

    EXPECT_FAIL(malloc(SIZE_MAX), ENOMEM);
    EXPECT_FAIL(malloc(big), ENOMEM);
    EXPECT_FAIL(malloc(SIZE_MAX - 4095), ENOMEM);
    EXPECT_FAIL(malloc((size_t)PTRDIFF_MAX), ENOMEM);
    EXPECT_FAIL(calloc(SIZE_MAX, 2), ENOMEM);
    EXPECT_FAIL(calloc((size_t)1 << 33, (size_t)1 << 33), ENOMEM);
    EXPECT_FAIL(calloc(1, big), ENOMEM);
    EXPECT_FAIL(calloc(big, 1), ENOMEM);
    EXPECT_FAIL(realloc(NULL, SIZE_MAX), ENOMEM);
    EXPECT_FAIL(reallocarray(NULL, SIZE_MAX, 2), ENOMEM);
    EXPECT_FAIL(reallocarray(NULL, 1, big), ENOMEM);
    EXPECT_FAIL(valloc(SIZE_MAX), ENOMEM);
    EXPECT_FAIL(valloc(big), ENOMEM);
    EXPECT_FAIL(pvalloc(SIZE_MAX), ENOMEM);       /* rounding up to a page overflows */
    EXPECT_FAIL(pvalloc(SIZE_MAX - 100), ENOMEM);
    EXPECT_FAIL(pvalloc(big), ENOMEM);
    EXPECT_FAIL(memalign(64, SIZE_MAX), ENOMEM);
    EXPECT_FAIL(memalign(64, big), ENOMEM);
    EXPECT_FAIL(memalign(4096, SIZE_MAX - 4096), ENOMEM);
    EXPECT_FAIL(memalign((size_t)1 << 20, SIZE_MAX - 100), ENOMEM);
    EXPECT_FAIL(aligned_alloc(64, SIZE_MAX), ENOMEM);
    EXPECT_FAIL(aligned_alloc(4096, big), ENOMEM);
    EXPECT_FAIL(memalign(half, 1), ENOMEM);       /* a valid alignment nothing can satisfy */
    /* The largest alignment plus a size just short of PTRDIFF_MAX: sums of the two wrap. */
    EXPECT_FAIL(memalign(half, big - 4097), ENOMEM);
    EXPECT_FAIL(aligned_alloc(half, big - 4097), ENOMEM);
    EXPECT_FAIL(memalign(half / 2 + 1, big / 2), ENOMEM);
    EXPECT_FAIL(memalign(half + 1, 1), EINVAL);   /* alignment > SIZE_MAX/2+1 */
    EXPECT_FAIL(memalign(SIZE_MAX, 1), EINVAL);
    EXPECT_FAIL(aligned_alloc(SIZE_MAX, 1), EINVAL);

    expect_posix_memalign(0, 16, EINVAL);
    expect_posix_memalign(1, 16, EINVAL);
    expect_posix_memalign(4, 16, EINVAL);
    expect_posix_memalign(24, 16, EINVAL);
    expect_posix_memalign(48, 16, EINVAL);
    expect_posix_memalign(4097, 16, EINVAL);
    expect_posix_memalign(half + 8, 16, EINVAL);
    expect_posix_memalign(64, SIZE_MAX, ENOMEM);
    expect_posix_memalign(64, big, ENOMEM);
    expect_posix_memalign(4096, SIZE_MAX - 4096, ENOMEM);
    expect_posix_memalign(half, big - 4097, ENOMEM);
    /* glibc's posix_memalign leaves errno ENOMEM; tst-malloc-thread-fail relies on it. */
    errno = 0;
    void *unused;
    CHECK(posix_memalign(&unused, 64, SIZE_MAX) == ENOMEM && errno == ENOMEM, "errno %d", errno);

    /* A failed realloc leaves the block where it was, with its contents. */
    for (size_t n = 10; n <= 1000000; n *= 10) {
        char *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        fill_pattern(p, n, n);
        EXPECT_FAIL(realloc(p, SIZE_MAX), ENOMEM);
        EXPECT_FAIL(realloc(p, big), ENOMEM);
        EXPECT_FAIL(reallocarray(p, SIZE_MAX / 2, 3), ENOMEM);
        EXPECT_FAIL(reallocarray(p, (size_t)1 << 32, (size_t)1 << 32), ENOMEM);
        CHECK(check_pattern(p, n, n) == n, "contents changed by a failed realloc of %zu bytes", n);
        CHECK(malloc_usable_size(p) >= n, "block shrank after a failed realloc");
        free(p);
    }
    printf("OK\n");
    return 0;
}
