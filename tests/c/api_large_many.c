/* Many large blocks live at once. Each guarded block once cost the kernel two mappings of
 * its own (mprotect splits them), so at about 32,700 blocks vm.max_map_count (65,530)
 * ran out and malloc returned NULL with memory to spare; glibc and mimalloc go on. Every
 * block is written at both ends, so a guard misplaced by one page faults here. */
#include "common.h"

#define BLOCKS 40000
#define KIB ((size_t)1024)

/* Sizes vary by pages and by bytes, so blocks neither fill their mappings alike nor end
 * at the same offset in a page. */
static size_t block_size(size_t i) { return 300 * KIB + (i % 7) * 4 * KIB + i % 13; }

int main(void) {
    static unsigned char *block[BLOCKS];
    for (size_t i = 0; i < BLOCKS; i++) {
        size_t size = block_size(i);
        block[i] = malloc(size);
        CHECK(block[i] != NULL, "malloc of a large block failed with %zu of them live", i);
        block[i][0] = (unsigned char)i;
        block[i][size - 1] = (unsigned char)(i >> 8);
    }
    for (size_t i = 0; i < BLOCKS; i++) {
        size_t size = block_size(i);
        CHECK(block[i][0] == (unsigned char)i && block[i][size - 1] == (unsigned char)(i >> 8),
              "large block %zu does not hold what was written", i);
        free(block[i]);
    }
    printf("OK %d large blocks live at once\n", BLOCKS);
    return 0;
}
