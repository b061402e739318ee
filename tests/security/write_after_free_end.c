/* write the last byte of a freed 1000-byte block, then malloc and free that size until the slot comes back */
/* With canaries, free clears and reuse verifies only what the last owner asked for (and its
 * canary), not the slot's rounding slack; the block's own last byte must still be covered. */
#include "probe.h"

enum { SIZE = 1000 };

int main(void) {
    char *p = malloc(SIZE);
    probe_target(p);
    free(p);
    ((volatile char *)p)[SIZE - 1] = 'X';
    probe_await_reuse(p, SIZE);
    probe_survived();
    return 0;
}
