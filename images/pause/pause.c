/* The pod sandbox's process: holds the pod's namespaces open and does nothing else.
 *
 * It is PID 1 of the pod when the runtime shares the PID namespace, so it reaps orphaned
 * children (SIGCHLD), and it leaves with status 0 on SIGINT/SIGTERM so the runtime stops
 * the sandbox promptly. `pause -v` prints its version (the image check runs it).
 * Built static (images/build.py), so the image holds this one file.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAUSE_VERSION "osm-images pause 1.0"

static void leave(int signo) {
    (void)signo;
    _exit(0);
}

static void reap(int signo) {
    int saved = errno;
    (void)signo;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

static void on(int signo, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (sigaction(signo, &action, NULL) != 0) {
        perror("pause: sigaction");
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "-v") == 0) {
        puts(PAUSE_VERSION);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: pause [-v]\n");
        return 2;
    }
    if (getpid() != 1) {
        /* Not an error (ctr run without a shared PID namespace), but worth a line. */
        fprintf(stderr, "pause: not running as PID 1\n");
    }
    on(SIGINT, leave);
    on(SIGTERM, leave);
    on(SIGCHLD, reap);
    for (;;) {
        pause();
    }
}
