/* Double free of a big block whose pages went back to the OS while its slab stayed in use
 * (the purge changes the slot's recorded state): the program keeps a neighbour live, frees
 * the block and works in a small class until the block's pages are no longer resident,
 * then frees it again. That second free must be named a double free. The idle-slot purge
 * runs from the thread caches' sweeps; without caches (tcache=0) malloc_trim purges the
 * slot after a second. */
#include <sys/mman.h>

#include "common.h"

#define BLOCK 20000
#define FEW 4096

int main(void) {
    char *neighbour = malloc(BLOCK), *p = malloc(BLOCK);
    CHECK(neighbour != NULL && p != NULL, "malloc");
    memset(neighbour, 1, BLOCK);
    memset(launder(p), 2, BLOCK);    /* a store the compiler may not drop before the free */
    free(p);
    static void *few[FEW];
    unsigned char in_core;
    CHECK(mincore(p, 4096, &in_core) == 0 && in_core, "the freed block's first page is not resident at once");
    for (long start = now_ms(); in_core && now_ms() - start < 5000;) {
        if (now_ms() - start > 1000) malloc_trim(0);
        churn_and_nap(few, FEW, 48);
        CHECK(mincore(p, 4096, &in_core) == 0, "mincore: %s", strerror(errno));
    }
    CHECK(!in_core, "the freed block's first page is still resident after 5 s");
    show_pointer(p);
    free(p);
    printf("survived\n");
    return 0;
}
