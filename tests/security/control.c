/* correct use of malloc, calloc, realloc, posix_memalign and malloc_usable_size, small and large; must run to the end */
/* Every other probe misuses the heap; this one does not, so a profile or harness that
 * kills everything cannot pass the table by accident. */
#include <malloc.h>
#include "probe.h"

int main(void) {
    char *small = malloc(24), *large = malloc(300000);
    void *aligned = NULL;
    memset(small, 'a', 24);
    memset(large, 'b', 300000);
    small = realloc(small, 1000);
    large = realloc(large, 600000);
    if (posix_memalign(&aligned, 4096, 100) != 0 || malloc_usable_size(small) < 1000) return 1;
    if (small[23] != 'a' || large[299999] != 'b') return 1;
    char *zeroed = calloc(100, 10);
    for (int i = 0; i < 1000; i++)
        if (zeroed[i]) return 1;
    free(zeroed);
    free(aligned);
    free(large);
    free(small);
    probe_survived();
    return 0;
}
