/* write forward byte by byte from the lowest of 16384 live 64-byte blocks, up to 64 MiB */
/* 16384 blocks are allocated first so that many slabs of the class are carved and live;
 * the run starts at the lowest of them. A SIGSEGV handler reports where the fault came:
 * inside the span of live blocks means a guard slab stopped the run early, beyond it
 * means the run went through every carved slab and stopped only where the slab region
 * is still uncarved. The handler resets itself, so the faulting write is retried and the
 * process still dies of SIGSEGV. Block addresses live in static storage, not on the
 * heap, so the run cannot destroy the data the handler needs. */
#include <signal.h>
#include <stdint.h>
#include <unistd.h>
#include "probe.h"

#define N 16384

static char *blocks[N];
static uintptr_t lowest = UINTPTR_MAX, highest;

static void on_segv(int sig, siginfo_t *info, void *ctx) {
    static const char inside[] = "fault inside the live blocks\n", beyond[] = "fault beyond the live blocks\n";
    (void)sig;
    (void)ctx;
    if ((uintptr_t)info->si_addr <= highest) write(STDOUT_FILENO, inside, sizeof inside - 1);
    else write(STDOUT_FILENO, beyond, sizeof beyond - 1);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(64);
        uintptr_t a = (uintptr_t)blocks[i];
        if (a < lowest) lowest = a;
        if (a > highest) highest = a;
    }
    fflush(stdout);
    volatile char *v = (char *)lowest;
    for (size_t i = 0; i < ((size_t)64 << 20); i++) v[i] = 'A';
    probe_survived();
    return 0;
}
