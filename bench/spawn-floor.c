/* spawn-floor.c — this machine's floor for a no-op fan-out: starts N copies of
 * a command at once from one process and reaps them, no agent, no network. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define FLOOR_MAX 100000

extern char **environ;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	char *end = NULL;
	long count;
	int started = 0, failed = 0, status, err = 0;
	double t0, t1;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: spawn-floor COUNT COMMAND [ARG...]\n"
				"starts COUNT copies of COMMAND (an absolute path) at once, "
				"waits for all, prints the wall time in ms\n");
		return 2;
	}
	errno = 0;
	count = strtol(argv[1], &end, 10);
	if (errno != 0 || *end != '\0' || count < 1 || count > FLOOR_MAX) {
		fprintf(stderr, "spawn-floor: COUNT must be 1..%d, not '%s'\n", FLOOR_MAX, argv[1]);
		return 2;
	}
	if (argv[2][0] != '/') {
		fprintf(stderr, "spawn-floor: COMMAND must be an absolute path, not '%s'\n", argv[2]);
		return 2;
	}
	t0 = now_ms();
	for (long i = 0; i < count; i++) {
		err = posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, environ);
		if (err != 0) {
			fprintf(stderr, "spawn-floor: %s: %s\n", argv[2], strerror(err));
			break;
		}
		started++;
	}
	while (started > 0) {
		if (wait(&status) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		started--;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	t1 = now_ms();
	if (err != 0)
		return 1;
	if (failed > 0) {
		fprintf(stderr, "spawn-floor: %d of %ld copies failed\n", failed, count);
		return 1;
	}
	printf("%.0f\n", t1 - t0);
	return 0;
}
