/* Guard slabs (guard_slab_interval) must not cost a kernel mapping each. Left
 * inaccessible they split the slab region at every one, and paranoid's heap (a guard
 * every other slab) ran out of mappings (vm.max_map_count, 65,530) at about 2 GiB of
 * 1000-byte blocks. Here 64 MiB of them are carved while the program counts its
 * mappings; prints the growth. */
#include "common.h"

#define BLOCKS 65536

int main(void) {
    static char *block[BLOCKS];
    long before = kernel_mappings();
    for (int i = 0; i < BLOCKS; i++) {
        block[i] = malloc(1000);
        CHECK(block[i] != NULL, "malloc(1000) failed at block %d", i);
        block[i][0] = (char)i;
        block[i][999] = (char)i;
    }
    long after = kernel_mappings();
    for (int i = 0; i < BLOCKS; i++) {
        CHECK(block[i][0] == (char)i && block[i][999] == (char)i, "block %d changed", i);
        free(block[i]);
    }
    printf("OK mappings grew by %ld\n", after - before);
    return 0;
}
