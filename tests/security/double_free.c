/* free(p); free(p) for a 32-byte block */
#include "probe.h"

int main(void) {
    void *p = malloc(32);
    probe_target(p);
    free(p);
    free(p);
    probe_survived();
    return 0;
}
