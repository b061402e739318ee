/* valloc and pvalloc return page-aligned blocks; pvalloc's usable size covers whole pages. */
#include "common.h"

#include <unistd.h>

int main(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    static const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 10000, 65536, 262145, 1000000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], rounded = (n + page - 1) & ~(page - 1);
        void *v[4], *pv[4];
        for (int k = 0; k < 4; k++) {
            v[k] = valloc(n);
            pv[k] = pvalloc(n);
            CHECK(v[k] && pv[k], "valloc/pvalloc(%zu) failed", n);
            CHECK((uintptr_t)v[k] % page == 0, "valloc(%zu) = %p not page aligned", n, v[k]);
            CHECK((uintptr_t)pv[k] % page == 0, "pvalloc(%zu) = %p not page aligned", n, pv[k]);
            CHECK(malloc_usable_size(pv[k]) >= rounded, "pvalloc(%zu) usable %zu < %zu", n,
                  malloc_usable_size(pv[k]), rounded);
            memset(v[k], 1, n);
            memset(pv[k], 2, rounded);
        }
        for (int k = 0; k < 4; k++) free(v[k]), free(pv[k]);
    }
    printf("OK\n");
    return 0;
}
