/* free(p) for a 1 MiB block, then 300 mallocs and frees of 300000 bytes, then free(p) again */
/* pyalloc names a large double free from a ring of the last 256 freed large blocks; past
 * that it can only say the pointer is not a live block, which is still fatal under the
 * default on_invalid_free=abort. No 300000-byte block can start at p, so the second free
 * cannot hit a new block that reuses the address: p's mapping is either kept (cache or
 * quarantine, where a request this much smaller never takes it) or unmapped under guard
 * pages, and a guarded 300000-byte block starts mid-page while p starts on a page. */
#include "probe.h"

int main(void) {
    void *p = malloc(1 << 20);
    probe_target(p);
    free(p);
    for (int i = 0; i < 300; i++) free(malloc(300000));
    free(p);
    probe_survived();
    return 0;
}
