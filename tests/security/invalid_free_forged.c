/* free of a slot-aligned address next to a live block, a slot never handed out */
/* 100000-byte requests fall in a size class nothing else here uses, so the slot one
 * class size (112 KiB) past p has never been allocated; an allocator that trusted any
 * slot-aligned address would put it on a free list and later hand it out twice. */
#include "probe.h"

int main(void) {
    char *p = malloc(100000);
    char *forged = p + 112 * 1024;
    probe_target(forged);
    free(forged);
    probe_survived();
    return 0;
}
