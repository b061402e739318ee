/* free(p), then 20000 mallocs and frees of mixed sizes (p's size among them), then free(p) again */
/* The churn makes it likely that the slot is handed out again and freed again in between,
 * and pushes it through caches, quarantine and the central pool: the second free must be
 * caught wherever the slot ended up. Everything the churn allocates is freed before the
 * second free, so the slot is certainly free at that point (freeing a pointer whose slot
 * was reused and is live again is indistinguishable from a correct free). */
#include "probe.h"

#define LIVE 256

int main(void) {
    static const size_t sizes[] = {16, 48, 64, 64, 64, 100, 256, 1000, 4000, 70000};
    static void *live[LIVE];
    unsigned rng = 12345;
    void *p = malloc(64);
    probe_target(p);
    free(p);
    for (int i = 0; i < 20000; i++) {
        rng = rng * 1103515245u + 12345u;
        unsigned slot = (rng >> 8) % LIVE;
        free(live[slot]);
        live[slot] = malloc(sizes[(rng >> 20) % (sizeof sizes / sizeof sizes[0])]);
    }
    for (int i = 0; i < LIVE; i++) free(live[i]);
    free(p);
    probe_survived();
    return 0;
}
