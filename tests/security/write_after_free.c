/* write into a freed 64-byte block, then malloc and free that size until the slot comes back */
#include "probe.h"

int main(void) {
    char *p = malloc(64);
    probe_target(p);
    free(p);
    ((volatile char *)p)[8] = 'X';
    probe_await_reuse(p, 64);
    probe_survived();
    return 0;
}
