/*
 * vmalab snapshot helper: runs a program under ptrace and saves what the
 * kernel's own view of each of its processes is at the two moments a trace
 * cannot show: right after each execve (the layout execve built: program,
 * ld.so, stack, vdso) and when each process is about to exit.
 *
 *   snapshot-helper OUT -- CMD ARGS...
 *
 * It forks CMD as a child that asks to be traced, follows every fork, vfork
 * and clone (PTRACE_O_TRACE*), and at each PTRACE_EVENT_EXEC and at the
 * PTRACE_EVENT_EXIT of a thread-group leader appends to OUT:
 *
 *   snapshot exec|exit PID
 *   <the /proc/PID/smaps header line of each VMA>
 *   Anonymous: N kB
 *   VmFlags: ...
 *   anon START-END ...   (exec only: runs of present anonymous pages, from pagemap)
 *   end
 *
 * Reading /proc adds no mapping to the traced program. The helper exits with
 * the program's exit status (128 + signal when a signal killed it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#define PM_PRESENT (1ULL << 63)
#define PM_FILE (1ULL << 61)

static FILE *out;
/* Tasks whose first stop has been seen: a new task starts with a SIGSTOP that is not the program's. */
static unsigned char *seen;
static long pid_max;

static int first_stop(pid_t tid)
{
	if (tid <= 0 || tid >= pid_max)
		return 0;
	int was = seen[tid / 8] & (1 << (tid % 8));
	seen[tid / 8] |= 1 << (tid % 8);
	return !was;
}

static void die(const char *what)
{
	fprintf(stderr, "snapshot-helper: %s: %s\n", what, strerror(errno));
	exit(125);
}

/* The runs of present anonymous (not file, not shared) pages of [start, end). */
static void anon_runs(int pagemap, unsigned long start, unsigned long end)
{
	uint64_t buf[512];
	unsigned long run = 0;
	int in_run = 0, any = 0;
	for (unsigned long a = start; a < end;) {
		size_t n = (end - a) / PAGE;
		if (n > 512)
			n = 512;
		ssize_t got = pread(pagemap, buf, n * 8, (off_t)(a / PAGE) * 8);
		if (got <= 0)
			break;
		for (size_t i = 0; i < (size_t)got / 8; i++, a += PAGE) {
			int anon = (buf[i] & PM_PRESENT) && !(buf[i] & PM_FILE);
			if (anon && !in_run) {
				run = a;
				in_run = 1;
			} else if (!anon && in_run) {
				fprintf(out, "%s%lx-%lx", any++ ? " " : "anon ", run, a);
				in_run = 0;
			}
		}
	}
	if (in_run)
		fprintf(out, "%s%lx-%lx", any++ ? " " : "anon ", run, end);
	if (any)
		fputc('\n', out);
}

static void snapshot(const char *when, pid_t pid)
{
	char path[64], line[4096];
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return; /* already gone: nothing to save */
	int pagemap = -1;
	if (!strcmp(when, "exec")) {
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
		pagemap = open(path, O_RDONLY);
	}
	fprintf(out, "snapshot %s %d\n", when, pid);
	unsigned long start = 0, end = 0;
	unsigned long anon_kb = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			if (line[strlen(line) - 1] != '\n')
				strcat(line, "\n");
			fputs(line, out);
			start = s;
			end = e;
		} else if (sscanf(line, "Anonymous: %lu kB", &anon_kb) == 1) {
			fputs(line, out);
			if (pagemap >= 0 && anon_kb > 0)
				anon_runs(pagemap, start, end);
		} else if (!strncmp(line, "VmFlags:", 8)) {
			fputs(line, out);
		}
	}
	fputs("end\n", out);
	fflush(out);
	fclose(f);
	if (pagemap >= 0)
		close(pagemap);
}

/* The thread group a thread belongs to, from /proc/TID/status (0 if gone). */
static pid_t tgid_of(pid_t tid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	pid_t tgid = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

int main(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: snapshot-helper OUT -- CMD ARGS...\n");
		return 125;
	}
	out = fopen(argv[1], "w");
	if (!out)
		die(argv[1]);
	FILE *pm = fopen("/proc/sys/kernel/pid_max", "r");
	if (!pm || fscanf(pm, "%ld", &pid_max) != 1)
		pid_max = 1 << 22;
	if (pm)
		fclose(pm);
	seen = calloc(pid_max / 8 + 1, 1);
	if (!seen)
		die("calloc");
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			die("PTRACE_TRACEME");
		raise(SIGSTOP);
		execvp(argv[3], argv + 3);
		fprintf(stderr, "snapshot-helper: %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	int status;
	if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status))
		die("waiting for the program to stop");
	long opts = PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
		    PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL;
	if (ptrace(PTRACE_SETOPTIONS, child, NULL, (void *)opts))
		die("PTRACE_SETOPTIONS");
	first_stop(child);
	ptrace(PTRACE_CONT, child, NULL, NULL);

	int exit_status = 0;
	for (;;) {
		pid_t tid = waitpid(-1, &status, __WALL);
		if (tid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD)
				break;
			die("waitpid");
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (tid == child)
				exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			continue;
		}
		if (!WIFSTOPPED(status))
			continue;
		int sig = WSTOPSIG(status);
		int event = status >> 16;
		int deliver = 0;
		int first = first_stop(tid);
		if (sig == SIGTRAP && event == PTRACE_EVENT_EXEC) {
			snapshot("exec", tid);
		} else if (sig == SIGTRAP && event == PTRACE_EVENT_EXIT) {
			if (tgid_of(tid) == tid)
				snapshot("exit", tid);
		} else if (sig == SIGTRAP && event != 0) {
			/* fork, vfork, clone: the new task starts stopped and is followed. */
		} else if (sig == SIGSTOP && first) {
			/* A new task's first stop: not the program's signal. */
		} else {
			deliver = sig;
		}
		ptrace(PTRACE_CONT, tid, NULL, (void *)(long)deliver);
	}
	fclose(out);
	return exit_status;
}
