/* realloc of a block that was already freed. */
#include "common.h"

int main(void) {
    char *p = malloc(40);
    CHECK(p != NULL, "malloc");
    memset(p, 1, 40);
    free(p);
    show_pointer(p);
    char *q = realloc(p, 80);
    printf("survived %p\n", (void *)q);
    return 0;
}
