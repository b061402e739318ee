/* store a secret in a 1000-byte block, shrink it in place with realloc, free it, read the cut-off tail */
/* realloc keeps the block where it is when the new size still suits its slot; the bytes
 * cut off stay in the slot, so clearing a freed block must cover them too. As in
 * read_after_free.c, nothing that may allocate runs between the free and the read. */
#include "probe.h"

enum { BIG = 1000, SMALL = 600, TAIL = 24 }; /* TAIL: past the shrunk block and its canary */

int main(void) {
    char *p = malloc(BIG);
    memset(p, 'S', BIG);
    char *q = realloc(p, SMALL);
    if (q != p) {
        puts("moved");
        return 0;
    }
    free(q);
    const volatile char *v = q;
    size_t left = 0;
    for (size_t i = SMALL + TAIL; i < BIG; i++) left += v[i] == 'S';
    puts(left ? "secret visible" : "secret gone");
    probe_survived();
    return 0;
}
