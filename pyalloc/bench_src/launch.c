/* launch REPORT PROG ARGS...: run PROG and write its resource usage to the file REPORT.
 *
 * Why not wait4() from Python directly: a process's peak RSS survives exec, so a program
 * spawned by the benchmark driver starts out "using" the driver's whole RSS (tens of MiB
 * of interpreter), which would drown the figure being measured. This launcher is small,
 * so the peak it passes on to PROG through fork and exec is a megabyte or two, the same
 * for every allocator. The usage covers PROG and every descendant it waited for.
 *
 * REPORT gets one line: "STATUS USER_SECONDS SYSTEM_SECONDS MAXRSS_KIB", STATUS as wait4
 * returns it. The launcher exits 0 once the report is written, whatever PROG did. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s REPORT PROG ARGS...\n", argv[0]);
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("launch: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) {
            perror("launch: wait4");
            return 2;
        }
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    fprintf(f, "%d %ld.%06ld %ld.%06ld %ld\n", status, (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
            (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, ru.ru_maxrss);
    return fclose(f) ? 2 : 0;
}
