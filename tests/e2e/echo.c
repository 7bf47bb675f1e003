/*
 * e2e-echo: the end-to-end tests' workload (image kubedag/e2e-echo:1, built like the pause
 * image). Prints its arguments on one line and the E2E_MESSAGE variable on the next, then exits
 * with the status in E2E_EXIT_CODE (0 if unset), so a test can check logs and exit codes.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    printf("args:");
    for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    const char *message = getenv("E2E_MESSAGE");
    printf("E2E_MESSAGE=%s\n", message ? message : "<unset>");
    fflush(stdout);
    const char *code = getenv("E2E_EXIT_CODE");
    return code ? atoi(code) : 0;
}
