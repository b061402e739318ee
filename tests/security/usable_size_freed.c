/* free(p); malloc_usable_size(p) for a 40-byte block */
#include <malloc.h>
#include "probe.h"

int main(void) {
    void *p = malloc(40);
    probe_target(p);
    free(p);
    printf("usable %zu\n", malloc_usable_size(p));
    probe_survived();
    return 0;
}
