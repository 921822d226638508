/*
 * Driving the Swift peer (swift-mutex-peer): one process per trial, its command line carrying
 * the same parameters as the in-process trial, its one output line a row of the same CSV.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* Runs the peer with argv, returns its stdout's last line in line[]; false on any failure. */
static bool run_peer(const struct bench_config *cfg, char *const argv[], char *line, size_t len)
{
	int fds[2], status;
	pid_t pid;
	FILE *f;
	char buf[512];
	bool got = false;

	if (pipe(fds))
		bench_die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(cfg->swift_peer, argv);
		fprintf(stderr, "kmutex-bench: cannot run %s: %s\n", cfg->swift_peer, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	while (f && fgets(buf, sizeof(buf), f)) {
		snprintf(line, len, "%s", buf);
		got = true;
	}
	if (f)
		fclose(f);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!got || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "\nkmutex-bench: note: the Swift peer %s failed (status %d); its cell is "
				"left empty\n", cfg->swift_peer, status);
		return false;
	}
	return true;
}

bool bench_peer_uncontended(const struct bench_config *cfg, uint64_t pairs, double *ns_per_pair)
{
	char n[32], line[512];
	char *argv[] = { "swift-mutex-peer", "uncontended", "--pairs", n, NULL };
	unsigned long long got_pairs;
	int trial;

	snprintf(n, sizeof(n), "%llu", (unsigned long long)pairs);
	if (!run_peer(cfg, argv, line, sizeof(line)))
		return false;
	/* row shape of uncontended.csv: lock,trial,pairs,ns_per_pair (trial 0: the caller's) */
	if (sscanf(line, "swift-mutex,%d,%llu,%lf", &trial, &got_pairs, ns_per_pair) != 3 ||
	    got_pairs != pairs) {
		fprintf(stderr, "\nkmutex-bench: note: unexpected Swift peer output: %s", line);
		return false;
	}
	return true;
}

bool bench_peer_throughput(const struct bench_config *cfg, int threads, uint64_t cs_ns,
			   uint64_t *ops, uint64_t *elapsed_ns, struct bench_cost *cost)
{
	char t[16], c[32], o[32], d[32], line[512];
	char *argv[] = { "swift-mutex-peer", "throughput", "--threads", t, "--cs-ns", c,
			 "--outside-ns", o, "--duration-ms", d, NULL };
	unsigned long long got_cs, got_ops, got_el, cpu_ns, vcsw, ivcsw;
	int got_threads, trial;
	double rate;

	snprintf(t, sizeof(t), "%d", threads);
	snprintf(c, sizeof(c), "%llu", (unsigned long long)cs_ns);
	snprintf(o, sizeof(o), "%llu", (unsigned long long)cfg->outside_ns);
	snprintf(d, sizeof(d), "%llu", (unsigned long long)cfg->trial_ms);
	if (!run_peer(cfg, argv, line, sizeof(line)))
		return false;
	/* lock,threads,cs_ns,trial,ops,elapsed_ns,ops_per_s as in throughput.csv, then the
	 * peer's own getrusage over the trial (a fork and exec would be in ours) */
	if (sscanf(line, "swift-mutex,%d,%llu,%d,%llu,%llu,%lf,%llu,%llu,%llu", &got_threads,
		   &got_cs, &trial, &got_ops, &got_el, &rate, &cpu_ns, &vcsw, &ivcsw) != 9 ||
	    got_threads != threads || got_cs != cs_ns || !got_el) {
		fprintf(stderr, "\nkmutex-bench: note: unexpected Swift peer output: %s", line);
		return false;
	}
	*ops = got_ops;
	*elapsed_ns = got_el;
	*cost = (struct bench_cost){ (double)cpu_ns, (double)vcsw, (double)ivcsw, -1, -1, -1 };
	return true;
}
