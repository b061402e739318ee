/* store a secret in a 3 MiB block (more than hardened's quarantine holds), free it, read the freed block */
#include "probe.h"

static const char secret[] = "hunter2-hunter2-hunter2";

int main(void) {
    char seen[sizeof secret];
    char *p = malloc(3 << 20);
    probe_target(p);
    memcpy(p + (1 << 20), secret, sizeof secret);
    free(p);
    const volatile char *v = p + (1 << 20);
    for (size_t i = 0; i < sizeof secret; i++) seen[i] = v[i];
    puts(memcmp(seen, secret, sizeof secret) == 0 ? "secret visible" : "secret gone");
    probe_survived();
    return 0;
}
