/* change the byte just past a 24-byte block, then free it */
/* The byte is incremented rather than set to a constant: any constant equals the
 * canary's byte there once in 256 runs, and the probe must not be flaky. */
#include "probe.h"

int main(void) {
    char *p = malloc(24);
    probe_target(p);
    volatile char *v = p;
    v[24] = (char)(v[24] + 1);
    free(p);
    probe_survived();
    return 0;
}
