/* store a secret in a 300000-byte block, free it, read the freed block */
#include "probe.h"

static const char secret[] = "hunter2-hunter2-hunter2";

int main(void) {
    char seen[sizeof secret];
    char *p = malloc(300000);
    probe_target(p);
    memcpy(p + 150000, secret, sizeof secret);
    free(p);
    const volatile char *v = p + 150000;
    for (size_t i = 0; i < sizeof secret; i++) seen[i] = v[i];
    puts(memcmp(seen, secret, sizeof secret) == 0 ? "secret visible" : "secret gone");
    probe_survived();
    return 0;
}
