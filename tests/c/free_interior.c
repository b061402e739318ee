/* Free of a pointer 16 bytes into a live small block (class 112). */
#include "common.h"

int main(void) {
    char *p = malloc(100);
    CHECK(p != NULL, "malloc");
    memset(p, 1, 100);
    char *q = launder(p + 16);
    show_pointer(q);
    free(q);
    printf("survived\n");
    return 0;
}
