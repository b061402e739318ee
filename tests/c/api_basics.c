/* malloc(0) and realloc(NULL, 0) return unique non-NULL blocks; realloc(p, 0) frees and
 * returns NULL; free and free(NULL) preserve errno; malloc_usable_size(NULL) is 0;
 * reallocarray works and checks overflow; cfree/free_sized/free_aligned_sized (pyalloc
 * only: glibc 2.36 does not export them) free. */
#include "common.h"

#define N 2000

typedef void (*free_sized_fn)(void *, size_t);
typedef void (*free_aligned_sized_fn)(void *, size_t, size_t);
typedef void (*cfree_fn)(void *);

int main(void) {
    static range_t r[N];
    static void *zero[N];
    for (int i = 0; i < N; i++) {
        zero[i] = (i & 1) ? malloc(0) : realloc(NULL, 0);
        CHECK(zero[i] != NULL, "malloc(0)/realloc(NULL, 0) returned NULL");
        CHECK((uintptr_t)zero[i] % 16 == 0, "malloc(0) = %p misaligned", zero[i]);
        r[i].start = (uintptr_t)zero[i];
        r[i].size = 1;
    }
    CHECK(first_overlap(r, N) < 0, "malloc(0) returned the same pointer twice");
    for (int i = 0; i < N; i++) free(zero[i]);

    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) != 0");

    static const size_t sizes[] = {1, 48, 1000, 100000, 300000, 4000000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = malloc(sizes[i]);
        CHECK(p != NULL, "malloc");
        errno = 4242;
        free(p);
        CHECK(errno == 4242, "free of a %zu-byte block changed errno to %d", sizes[i], errno);
        p = malloc(sizes[i]);
        errno = 4243;
        void *q = realloc(p, 0);
        CHECK(q == NULL, "realloc(p, 0) returned %p, expected NULL", q);
        CHECK(errno == 4243, "realloc(p, 0) of %zu bytes changed errno to %d", sizes[i], errno);
    }
    errno = 4244;
    free(NULL);
    CHECK(errno == 4244, "free(NULL) changed errno");

    int *a = reallocarray(NULL, 1000, sizeof(int));
    CHECK(a != NULL, "reallocarray");
    for (int i = 0; i < 1000; i++) a[i] = i;
    a = reallocarray(a, 100000, sizeof(int));
    CHECK(a != NULL, "reallocarray grow");
    for (int i = 0; i < 1000; i++) CHECK(a[i] == i, "reallocarray lost element %d", i);
    errno = 0;
    CHECK(reallocarray(a, SIZE_MAX / 4 + 1, 4) == NULL && errno == ENOMEM, "reallocarray overflow");
    CHECK(a[999] == 999, "block damaged by failed reallocarray");
    free(a);

    if (under_pyalloc()) {
        free_sized_fn fs = (free_sized_fn)dlsym(RTLD_DEFAULT, "free_sized");
        free_aligned_sized_fn fas = (free_aligned_sized_fn)dlsym(RTLD_DEFAULT, "free_aligned_sized");
        cfree_fn cf = (cfree_fn)dlsym(RTLD_DEFAULT, "cfree");
        CHECK(fs && fas && cf, "free_sized/free_aligned_sized/cfree not exported");
        for (int rep = 0; rep < 100; rep++) {
            void *p = malloc(100);
            errno = 99;
            fs(p, 100);
            CHECK(errno == 99, "free_sized changed errno");
            p = aligned_alloc(256, 1000);
            fas(p, 256, 1000);
            p = malloc(5000000);
            fs(p, 5000000);
            p = malloc(33);
            cf(p);
        }
        fs(NULL, 0);
        fas(NULL, 64, 0);
    }
    printf("OK\n");
    return 0;
}
