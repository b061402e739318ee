/* The glibc-internal names (__libc_malloc, ...) interoperate with the public ones: a block
 * from either family can be sized and freed by the other. */
#include "common.h"

#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

int main(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t n = 1; n < ((size_t)2 << 20); n = n * 5 + 3) {
        char *p = __libc_malloc(n);
        CHECK(p && (uintptr_t)p % 16 == 0, "__libc_malloc(%zu)", n);
        CHECK(malloc_usable_size(p) >= n, "usable size of __libc_malloc block");
        fill_pattern(p, n, n);
        p = realloc(p, n * 2);
        CHECK(p && check_pattern(p, n, n) == n, "realloc of a __libc_malloc block");
        free(p);

        unsigned char *c = __libc_calloc(n, 1);
        CHECK(c != NULL, "__libc_calloc");
        for (size_t i = 0; i < n; i++) CHECK(c[i] == 0, "__libc_calloc not zeroed");
        char *r = __libc_realloc(c, n + 100);
        CHECK(r != NULL, "__libc_realloc");
        __libc_free(r);

        char *m = malloc(n);
        __libc_free(m);
        void *a = __libc_memalign(256, n);
        CHECK(a && (uintptr_t)a % 256 == 0, "__libc_memalign");
        free(a);
        void *v = __libc_valloc(n);
        CHECK(v && (uintptr_t)v % page == 0, "__libc_valloc");
        free(v);
        void *pv = __libc_pvalloc(n);
        CHECK(pv && (uintptr_t)pv % page == 0, "__libc_pvalloc");
        __libc_free(pv);
    }
    printf("OK\n");
    return 0;
}
