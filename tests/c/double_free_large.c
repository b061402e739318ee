/* Double free of a large (mmap'd) block. */
#include "common.h"

int main(void) {
    size_t n = 1u << 20;
    char *p = malloc(n);
    CHECK(p != NULL, "malloc");
    memset(p, 1, n);
    free(p);
    show_pointer(p);
    free(p);
    printf("survived\n");
    return 0;
}
