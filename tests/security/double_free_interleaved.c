/* free(a); free(b); free(a) for 32-byte blocks */
/* The pattern that slips past allocators which only compare with the last freed block
 * (glibc's fastbin check). */
#include "probe.h"

int main(void) {
    void *a = malloc(32), *b = malloc(32);
    probe_target(a);
    free(a);
    free(b);
    free(a);
    probe_survived();
    return 0;
}
