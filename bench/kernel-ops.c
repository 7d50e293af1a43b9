/*
 * The op stream of bench/address-space.mjs, executed by the real kernel.
 * stdin: "N PAGES_PER_VMA REPS" then one op per line:
 *   p START N PROT      mprotect
 *   m START N PROT      mmap MAP_FIXED|MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE
 *   u START N 0         munmap
 * Pages are relative to an arena of N * PAGES_PER_VMA pages whose VMAs
 * alternate rw and r. Prints {"ops":K,"seconds":[...]} for REPS runs.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

struct op { char kind; unsigned long start, n; int prot; };

int main(void)
{
	unsigned long n, per, reps, count = 0, cap = 1 << 16;
	if (scanf("%lu %lu %lu", &n, &per, &reps) != 3) return 2;
	struct op *ops = malloc(cap * sizeof(*ops));
	char kind;
	struct op o;
	while (scanf(" %c %lu %lu %d", &kind, &o.start, &o.n, &o.prot) == 4) {
		o.kind = kind;
		if (count == cap) ops = realloc(ops, (cap *= 2) * sizeof(*ops));
		ops[count++] = o;
	}
	long page = 4096;
	size_t len = n * per * page;
	char *base = mmap(NULL, len + 2 * 1024 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) return 3;
	munmap(base, len + 2 * 1024 * page);
	base += 1024 * page;
	int flags = MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	for (unsigned long i = 0; i < n; i++)
		if (mmap(base + i * per * page, per * page, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE, flags, -1, 0) == MAP_FAILED)
			return 4;
	printf("{\"ops\":%lu,\"seconds\":[", count);
	for (unsigned long r = 0; r < reps; r++) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (unsigned long k = 0; k < count; k++) {
			char *at = base + ops[k].start * page;
			int rc = ops[k].kind == 'p'   ? mprotect(at, ops[k].n * page, ops[k].prot)
				 : ops[k].kind == 'u' ? munmap(at, ops[k].n * page)
						      : (mmap(at, ops[k].n * page, ops[k].prot, flags, -1, 0) == MAP_FAILED);
			if (rc) return 5;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("%s%.9f", r ? "," : "", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	printf("]}\n");
	return 0;
}
