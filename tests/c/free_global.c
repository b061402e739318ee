/* Free of a pointer to a global variable. */
#include "common.h"

static char global_buf[256] __attribute__((aligned(64)));

int main(void) {
    char *p = launder(global_buf + 64);
    show_pointer(p);
    free(p);
    printf("survived\n");
    return 0;
}
