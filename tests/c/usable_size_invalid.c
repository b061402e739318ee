/* malloc_usable_size of a pointer the heap never handed out.
 * argv[1]: "global" (outside the heap) or "interior" (16 bytes into a class-112 block). */
#include "common.h"

static char global_buf[256] __attribute__((aligned(64)));

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: usable_size_invalid global|interior");
    char *q;
    if (!strcmp(argv[1], "global")) {
        q = launder(global_buf + 64);
    } else {
        char *p = malloc(100);
        CHECK(p != NULL, "malloc");
        q = launder(p + 16);
    }
    show_pointer(q);
    size_t n = malloc_usable_size(q);
    printf("survived %zu\n", n);
    return 0;
}
