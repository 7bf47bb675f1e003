/*
 * kubedag pause: the process that holds a pod sandbox's namespaces (the CRI "sandbox image").
 * It sleeps until SIGTERM or SIGINT, then exits 0; as PID 1 of the pod it also reaps every
 * orphaned child so none stays a zombie. Built with `gcc -static` by devcluster/pause.py.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_stop(int signo) { (void)signo; stopping = 1; }

static void on_child(int signo) { (void)signo; }

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("kubedag-pause 3.10");
        return 0;
    }
    sigset_t handled, waiting;
    sigemptyset(&handled);
    sigaddset(&handled, SIGTERM);
    sigaddset(&handled, SIGINT);
    sigaddset(&handled, SIGCHLD);
    /* Blocked except inside sigsuspend: no signal can slip in between the checks. */
    sigprocmask(SIG_BLOCK, &handled, &waiting);
    sigdelset(&waiting, SIGTERM);
    sigdelset(&waiting, SIGINT);
    sigdelset(&waiting, SIGCHLD);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop;
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    action.sa_handler = on_child;
    action.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &action, NULL);
    while (!stopping) {
        sigsuspend(&waiting);
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
    }
    return 0;
}
