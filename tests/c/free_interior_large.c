/* Free of a pointer one page into a live large block. */
#include "common.h"

int main(void) {
    size_t n = 1u << 20;
    char *p = malloc(n);
    CHECK(p != NULL, "malloc");
    memset(p, 1, n);
    char *q = launder(p + 4096);
    show_pointer(q);
    free(q);
    printf("survived\n");
    return 0;
}
