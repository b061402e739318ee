/* malloc_usable_size of a freed block. argv[1]: "small" (class 48) or "large". */
#include "common.h"

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: usable_size_freed small|large");
    size_t n = strcmp(argv[1], "large") ? 40 : (size_t)1 << 20;
    char *p = malloc(n);
    CHECK(p != NULL, "malloc");
    memset(p, 1, n);
    free(p);
    show_pointer(p);
    size_t u = malloc_usable_size(p);
    printf("survived %zu\n", u);
    return 0;
}
