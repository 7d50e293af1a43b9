/*
 * vmalab kernel helper: runs one scenario on the host Linux kernel and prints
 * what the kernel did, as the JSON lines of vmalab's scenario format.
 *
 * Input (stdin), produced by vmalab from a parsed scenario:
 *   arena PAGES          pages the scenario may touch, from the arena base
 *   file K NAME          named file K (a sparse 4 GiB file, opened once)
 *   procs N              process ids are < N
 *   OP INDEX ARGS...     the ops, numbered as the scenario numbers them:
 *     mmap I START N PROT FLAGS FILE PGOFF   (FILE -1: anonymous)
 *     munmap I START N | mprotect I START N PROT | madvise I START N ADVICE
 *     mremap I START OLDN NEWN FLAGS NEWSTART | touch I START N WRITE
 *     rmap I PAGE | fork I CHILD | proc I ID | exit I | dump I
 *
 * Each simulated process is a real process forked from process 0's tree; it
 * reads its commands from a pipe of its own and answers with an errno. The
 * controller reads dumps from /proc/PID/smaps and answers rmap from
 * /proc/PID/pagemap and /proc/kpageflags (which need root for page frames).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 256
#define MAX_FILES 64
#define PAGE 4096UL
#define GUARD_PAGES 1024UL
/* The arena starts on a PMD boundary: page P may hold a huge page iff P % 512 == 0. */
#define PMD_SIZE (512 * PAGE)

static unsigned long base, arena_pages;
static int nprocs, nfiles;
static int file_fd[MAX_FILES];
static char file_name[MAX_FILES][64];
static char file_path[MAX_FILES][256];
static int cmd_pipe[MAX_PROCS][2], resp_pipe[MAX_PROCS][2];
static pid_t pids[MAX_PROCS];
static int alive[MAX_PROCS];
static int dumps[MAX_PROCS];
static int rmaps;
static char buf[1 << 20];

static void die(const char *msg)
{
	fprintf(stderr, "vmalab-kernel-helper: %s: %s\n", msg, strerror(errno));
	exit(2);
}

static const char *errno_name(int e)
{
	static char other[16];
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case EOVERFLOW: return "EOVERFLOW";
	}
	snprintf(other, sizeof(other), "E%d", e);
	return other;
}

/* ---- the simulated process side ------------------------------------------ */

static sigjmp_buf fault_jmp;

static void on_fault(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

static int do_touch(unsigned long start, unsigned long n, int write)
{
	struct sigaction sa = { .sa_handler = on_fault };
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	for (unsigned long i = 0; i < n; i++) {
		volatile char *p = (volatile char *)(base + (start + i) * PAGE);
		if (sigsetjmp(fault_jmp, 1))
			return EFAULT;
		if (write)
			*p = 1;
		else
			(void)*p;
	}
	return 0;
}

static void reply(int id, long value)
{
	char line[32];
	int len = snprintf(line, sizeof(line), "%ld\n", value);
	if (write(resp_pipe[id][1], line, len) != len)
		_exit(3);
}

static int read_line(int fd, char *out, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		out[n++] = c;
	}
	out[n] = 0;
	return (int)n;
}

/* The loop of simulated process `id`: one command, one reply (0 or errno). */
static void serve(int id)
{
	char line[256];
	for (;;) {
		if (read_line(cmd_pipe[id][0], line, sizeof(line)) < 0)
			_exit(0);
		char op[16];
		unsigned long a = 0, b = 0, c = 0, d = 0, e = 0;
		long f = 0;
		sscanf(line, "%15s %lu %lu %lu %lu %lu %ld", op, &a, &b, &c, &d, &e, &f);
		int err = 0;
		if (!strcmp(op, "mmap")) {
			/* a START, b N, c PROT, d FLAGS, e FILE+1, f PGOFF */
			int fd = e == 0 ? -1 : file_fd[e - 1];
			int flags = (int)d | MAP_FIXED | (fd < 0 ? MAP_ANONYMOUS : 0);
			if (mmap((void *)(base + a * PAGE), b * PAGE, (int)c, flags, fd, (off_t)f * PAGE) == MAP_FAILED)
				err = errno;
		} else if (!strcmp(op, "munmap")) {
			if (munmap((void *)(base + a * PAGE), b * PAGE))
				err = errno;
		} else if (!strcmp(op, "mprotect")) {
			if (mprotect((void *)(base + a * PAGE), b * PAGE, (int)c))
				err = errno;
		} else if (!strcmp(op, "madvise")) {
			if (madvise((void *)(base + a * PAGE), b * PAGE, (int)c))
				err = errno;
		} else if (!strcmp(op, "mremap")) {
			/* a START, b OLDN, c NEWN, d FLAGS, e NEWSTART */
			if (mremap((void *)(base + a * PAGE), b * PAGE, c * PAGE, (int)d, (void *)(base + e * PAGE)) == MAP_FAILED)
				err = errno;
		} else if (!strcmp(op, "touch")) {
			err = do_touch(a, b, (int)c);
		} else if (!strcmp(op, "fork")) {
			pid_t child = fork();
			if (child < 0)
				err = errno;
			else if (child == 0) {
				signal(SIGCHLD, SIG_IGN);
				serve((int)a);
			}
		} else if (!strcmp(op, "exit")) {
			reply(id, 0);
			_exit(0);
		} else if (!strcmp(op, "pid")) {
			reply(id, getpid());
			continue;
		}
		reply(id, err);
	}
}

/* ---- the controller side ----------------------------------------------------- */

static long ask(int id, const char *cmd)
{
	char line[64];
	size_t len = strlen(cmd);
	if (write(cmd_pipe[id][1], cmd, len) != (ssize_t)len)
		die("writing a command");
	if (read_line(resp_pipe[id][0], line, sizeof(line)) < 0)
		die("reading a reply");
	return strtol(line, NULL, 10);
}

/* Waits until the process is gone or a zombie: its mm has been torn down. */
static void wait_exited(pid_t pid)
{
	char path[64], stat[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (int tries = 0; tries < 10000; tries++) {
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			return;
		ssize_t n = read(fd, stat, sizeof(stat) - 1);
		close(fd);
		if (n <= 0)
			return;
		stat[n] = 0;
		char *paren = strrchr(stat, ')');
		if (paren && (paren[2] == 'Z' || paren[2] == 'X'))
			return;
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
}

static ssize_t read_file(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(fd, out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	out[n] = 0;
	return (ssize_t)n;
}

static void dump(int index, int id)
{
	char path[64];
	(void)index;
	snprintf(path, sizeof(path), "/proc/%d/smaps", pids[id]);
	if (read_file(path, buf, sizeof(buf)) < 0)
		die("reading smaps");
	printf("{\"dump\":%d,\"proc\":%d,\"vmas\":[", dumps[id]++, id);
	int first = 1, in_arena = 0;
	unsigned long start = 0, end = 0, off = 0, anon_kb = 0;
	char perms[8] = "", kind[320] = "";
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long s, e, o;
		char pm[8], dev[16];
		unsigned long inode;
		int consumed = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &s, &e, pm, &o, dev, &inode, &consumed) >= 6 && consumed > 0) {
			in_arena = s >= base && e <= base + arena_pages * PAGE;
			if (!in_arena)
				continue;
			start = (s - base) / PAGE;
			end = (e - base) / PAGE;
			off = o / PAGE;
			strcpy(perms, pm);
			const char *name = line + consumed;
			if (!*name)
				strcpy(kind, "anon");
			else if (!strncmp(name, "/dev/zero", 9) || !strncmp(name, "/SYSV", 5))
				snprintf(kind, sizeof(kind), "shared-anon@%lu", off);
			else {
				snprintf(kind, sizeof(kind), "file:?@%lu", off);
				for (int k = 0; k < nfiles; k++)
					if (!strncmp(name, file_path[k], strlen(file_path[k])))
						snprintf(kind, sizeof(kind), "file:%s@%lu", file_name[k], off);
			}
		} else if (in_arena && sscanf(line, "Anonymous: %lu kB", &anon_kb) == 1) {
			continue;
		} else if (in_arena && !strncmp(line, "VmFlags:", 8)) {
			const char *flags = line + 8;
			while (*flags == ' ')
				flags++;
			char clean[256];
			snprintf(clean, sizeof(clean), "%s", flags);
			size_t n = strlen(clean);
			while (n && clean[n - 1] == ' ')
				clean[--n] = 0;
			printf("%s[%lu,%lu,\"%s\",\"%s\",%lu,\"%s\"]", first ? "" : ",", start, end, perms, kind,
			       anon_kb * 1024 / PAGE, clean);
			first = 0;
			in_arena = 0;
		}
	}
	printf("]}\n");
}

static int read_u64_at(const char *path, uint64_t index, uint64_t *out)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = pread(fd, out, 8, (off_t)(index * 8));
	close(fd);
	return n == 8 ? 0 : -1;
}

/* The page frame of an anonymous (not zero) page at `page` of process id, or 0. */
static uint64_t anon_pfn(int id, unsigned long page)
{
	char path[64];
	uint64_t entry, flags;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pids[id]);
	if (read_u64_at(path, (base / PAGE) + page, &entry))
		return 0;
	if (!(entry >> 63 & 1) || (entry >> 61 & 1))
		return 0;
	uint64_t pfn = entry & ((1ULL << 55) - 1);
	if (pfn == 0) {
		fprintf(stderr, "vmalab-kernel-helper: rmap needs page frame numbers (run as root)\n");
		exit(2);
	}
	if (read_u64_at("/proc/kpageflags", pfn, &flags) == 0) {
		if (!(flags >> 12 & 1) || (flags >> 24 & 1)) /* KPF_ANON, KPF_ZERO_PAGE */
			return 0;
	}
	return pfn;
}

static void rmap(int id, unsigned long page)
{
	uint64_t pfn = anon_pfn(id, page);
	printf("{\"rmap\":%d,\"proc\":%d,\"page\":%lu,\"mapped\":[", rmaps++, id, page);
	int first = 1;
	for (int p = 0; pfn && p < nprocs; p++) {
		if (!alive[p])
			continue;
		for (unsigned long pg = 0; pg < arena_pages; pg++) {
			if (anon_pfn(p, pg) == pfn) {
				printf("%s[%d,%lu]", first ? "" : ",", p, pg);
				first = 0;
			}
		}
	}
	printf("]}\n");
}

int main(void)
{
	char line[512], tmpdir[] = "/tmp/vmalab-kernel-XXXXXX";
	if (!mkdtemp(tmpdir))
		die("mkdtemp");
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The header, then the ops, read up front: nothing allocates once the arena is chosen. */
	static char ops[1 << 22];
	size_t used = 0;
	while (fgets(line, sizeof(line), stdin)) {
		char name[64];
		int k;
		if (sscanf(line, "arena %lu", &arena_pages) == 1)
			continue;
		if (sscanf(line, "procs %d", &nprocs) == 1)
			continue;
		if (sscanf(line, "file %d %63s", &k, name) == 2) {
			if (k < 0 || k >= MAX_FILES)
				die("too many files");
			snprintf(file_name[k], sizeof(file_name[k]), "%s", name);
			snprintf(file_path[k], sizeof(file_path[k]), "%s/%s", tmpdir, name);
			file_fd[k] = open(file_path[k], O_RDWR | O_CREAT | O_TRUNC, 0600);
			if (file_fd[k] < 0 || ftruncate(file_fd[k], 4UL << 30))
				die("creating a file");
			if (k + 1 > nfiles)
				nfiles = k + 1;
			continue;
		}
		size_t len = strlen(line);
		if (used + len + 1 >= sizeof(ops))
			die("scenario too long");
		memcpy(ops + used, line, len + 1);
		used += len;
	}
	if (nprocs <= 0 || nprocs > MAX_PROCS)
		nprocs = MAX_PROCS;
	for (int i = 0; i < nprocs; i++)
		if (pipe(cmd_pipe[i]) || pipe(resp_pipe[i]))
			die("pipe");
	/* A free stretch with guard gaps on both sides, so no other mapping borders the arena. */
	size_t span = (arena_pages + 2 * GUARD_PAGES) * PAGE + PMD_SIZE;
	void *hole = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (hole == MAP_FAILED)
		die("finding an arena");
	munmap(hole, span);
	base = ((unsigned long)hole + GUARD_PAGES * PAGE + PMD_SIZE - 1) & ~(PMD_SIZE - 1);
	signal(SIGCHLD, SIG_IGN);

	pid_t p0 = fork();
	if (p0 < 0)
		die("fork");
	if (p0 == 0)
		serve(0);
	pids[0] = p0;
	alive[0] = 1;
	int current = 0;
	char *save = NULL;
	for (char *op = strtok_r(ops, "\n", &save); op; op = strtok_r(NULL, "\n", &save)) {
		char name[16], cmd[160];
		int index;
		unsigned long a = 0, b = 0, c = 0, d = 0, e = 0, f = 0;
		long file = -1;
		if (sscanf(op, "%15s %d", name, &index) != 2)
			continue;
		const char *args = strchr(strchr(op, ' ') + 1, ' ');
		args = args ? args + 1 : "";
		long err = 0;
		if (!strcmp(name, "proc")) {
			sscanf(args, "%lu", &a);
			if (a >= (unsigned long)nprocs || !alive[a])
				err = ESRCH;
			else
				current = (int)a;
		} else if (!alive[current]) {
			err = ESRCH;
		} else if (!strcmp(name, "dump")) {
			dump(index, current);
		} else if (!strcmp(name, "rmap")) {
			sscanf(args, "%lu", &a);
			rmap(current, a);
		} else if (!strcmp(name, "fork")) {
			sscanf(args, "%lu", &a);
			if (a >= (unsigned long)nprocs || alive[a]) {
				err = EEXIST;
			} else {
				snprintf(cmd, sizeof(cmd), "fork %lu\n", a);
				err = ask(current, cmd);
				if (!err) {
					pids[a] = (pid_t)ask((int)a, "pid\n");
					alive[a] = 1;
				}
			}
		} else if (!strcmp(name, "exit")) {
			ask(current, "exit\n");
			wait_exited(pids[current]);
			alive[current] = 0;
		} else if (!strcmp(name, "mmap")) {
			sscanf(args, "%lu %lu %lu %lu %ld %lu", &a, &b, &c, &d, &file, &f);
			snprintf(cmd, sizeof(cmd), "mmap %lu %lu %lu %lu %ld %lu\n", a, b, c, d, file + 1, f);
			err = ask(current, cmd);
		} else {
			sscanf(args, "%lu %lu %lu %lu %lu", &a, &b, &c, &d, &e);
			snprintf(cmd, sizeof(cmd), "%s %lu %lu %lu %lu %lu\n", name, a, b, c, d, e);
			err = ask(current, cmd);
		}
		if (err)
			printf("{\"op\":%d,\"proc\":%d,\"errno\":\"%s\"}\n", index, current, errno_name((int)err));
	}
	for (int i = 0; i < nprocs; i++)
		if (alive[i])
			ask(i, "exit\n");
	for (int k = 0; k < nfiles; k++)
		unlink(file_path[k]);
	rmdir(tmpdir);
	return 0;
}
