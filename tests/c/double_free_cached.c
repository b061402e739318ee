/* Double free while the block still sits in the thread cache: free twice in a row. */
#include "common.h"

int main(void) {
    char *p = malloc(40);
    CHECK(p != NULL, "malloc");
    memset(p, 1, 40);
    free(p);
    show_pointer(p);
    free(p);
    printf("survived\n");
    return 0;
}
