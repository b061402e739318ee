/* free of a pointer to a stack variable */
#include "probe.h"

int main(void) {
    char local[64];
    void *volatile p = local;        /* hides the bug from gcc's -Wfree-nonheap-object */
    probe_target(p);
    free(p);
    probe_survived();
    return 0;
}
