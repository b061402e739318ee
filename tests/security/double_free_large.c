/* free(p); free(p) for a 1 MiB block */
#include "probe.h"

int main(void) {
    void *p = malloc(1 << 20);
    probe_target(p);
    free(p);
    free(p);
    probe_survived();
    return 0;
}
