/* free(p) for a 1 MiB block, then 300 mallocs and frees of 300000 bytes, then free(p) again */
/* pyalloc names a large double free from a ring of the last 256 freed large blocks; past
 * that it can only say the pointer is not a live block, which is still fatal under the
 * default on_invalid_free=abort. The second free never hits a live block: each 300000-byte
 * block is freed before the next is made. Under guard pages such a block starts mid-page
 * while p starts on a page; without them one cut from p's cached mapping starts at p. */
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
