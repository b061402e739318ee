/* Free of a pointer into the stack. */
#include "common.h"

int main(void) {
    char buf[128] __attribute__((aligned(16)));
    memset(buf, 1, sizeof buf);
    char *p = launder(buf + 16);
    show_pointer(p);
    free(p);
    printf("survived %d\n", buf[0]);
    return 0;
}
