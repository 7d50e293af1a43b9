/*
 * Write faults and copy-on-write faults in the real kernel, for the folio
 * benchmark: N fresh anonymous pages written once each, then a fork whose
 * child writes a tenth of them. Prints {"faults":F,"cow":C} per second.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000, page = 4096;
	/* No THP: one fault per 4 KiB page, as the simulator models. */
	char *p = mmap(NULL, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || madvise(p, n * page, MADV_NOHUGEPAGE)) return 2;
	double t0 = now();
	for (long i = 0; i < n; i++) p[i * page] = 1;
	double faults = n / (now() - t0);
	int fds[2];
	if (pipe(fds)) return 3;
	pid_t child = fork();
	if (child == 0) {
		long cow = n / 10;
		double t1 = now();
		for (long i = 0; i < cow; i++) p[i * page] = 2;
		double rate = cow / (now() - t1);
		if (write(fds[1], &rate, sizeof rate) != sizeof rate) _exit(1);
		_exit(0);
	}
	double cow;
	if (read(fds[0], &cow, sizeof cow) != sizeof cow) return 4;
	waitpid(child, NULL, 0);
	printf("{\"faults\":%.0f,\"cow\":%.0f}\n", faults, cow);
	return 0;
}
