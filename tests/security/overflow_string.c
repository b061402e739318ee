/* strcpy(malloc(strlen(s)), s): the NUL lands one past the end; then free */
/* The classic off-by-one: only a zero byte goes past the end. */
#include "probe.h"

int main(void) {
    const char *volatile s = "sixteen chars!!!";
    char *p = malloc(strlen(s));
    probe_target(p);
    strcpy(p, s);
    free(p);
    probe_survived();
    return 0;
}
