/* store a secret in a 64-byte block, free it, read the freed block */
/* Freed small blocks stay mapped, so the read itself cannot fault; what matters is
 * whether the secret is still there. Nothing that may allocate (printf) runs between the
 * free and the read, so the slot cannot have been reused by the probe itself. */
#include "probe.h"

static const char secret[] = "hunter2-hunter2-hunter2";

int main(void) {
    char seen[sizeof secret];
    char *p = malloc(64);
    memcpy(p, secret, sizeof secret);
    free(p);
    const volatile char *v = p;
    for (size_t i = 0; i < sizeof secret; i++) seen[i] = v[i];
    puts(memcmp(seen, secret, sizeof secret) == 0 ? "secret visible" : "secret gone");
    probe_survived();
    return 0;
}
