/* local.c — the `local` provider: each node is an overcloud-agent daemon on this host.
 * Owns node dirs, agent processes, netns, veths, ocbr0 and 10.213/16; not the tower. */

/* As root each node gets its own network namespace on bridge ocbr0; otherwise
 * (or with OC_LOCAL_NO_NETNS=1) the agents run on loopback.
 *
 * Layout and names:
 *   <state_dir>/local/<overcloud id>/<node name>/   node dir, 0700
 *       ca.pem (0644, public), agent.log, agent.pid, state/ (the agent's own)
 *   /run/overcloud/local-net.{lock,alloc}   host-wide address slots (flock); in
 *       /run because namespaces and the bridge do not outlive a reboot either,
 *       and because several towers (or test runs) on one host share ocbr0
 *   slot s -> address 10.213.(1 + s / 254).(1 + s % 254), netns oc-<last 6 alnum
 *       of the overcloud id>-<s>, host-side veth ocv<s> (eth0 inside)
 *
 * The agent is started as `<agent> join --tower H:P --token T --ca <dir>/ca.pem
 * --state <dir>/state`, the same configuration cloud-init carries, double-forked
 * into its own session so it outlives the tower; with a namespace it dials the
 * bridge address 10.213.0.1 (the tower must listen there, e.g. on 0.0.0.0)
 * and has its own UTS namespace whose host name is the node name.
 * Its environment is PATH and HOME only (plus sanitizer/loader variables):
 * no credential of the tower's environment reaches a node. The token is in its
 * argv like in the join line cloud-init runs; it is single-use and never logged.
 *
 * The handle is "<netns>:<node dir>" ("host:<node dir>" on loopback): all that
 * destroy needs, also after a tower restart. */
#include "tower/providers/provider.h"
#include "tower/boot/artifacts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"

#define LOCAL_BRIDGE "ocbr0"
#define LOCAL_BRIDGE_ADDR "10.213.0.1"
/* The bridge's own MAC, fixed and locally administered ("\x02" "ocbr0"):
 * one left to the kernel is the lowest of its ports', and changes when the
 * node that lent it goes, stranding every other node's neighbour entry. */
#define LOCAL_BRIDGE_MAC "02:6f:63:62:72:30"
#define LOCAL_NET_PREFIX "10.213"
#define LOCAL_PREFIX_LEN "16"
#define LOCAL_SLOTS (254 * 254)
#define LOCAL_RUN_DIR "/run/overcloud"
#define LOCAL_LOCK_FILE LOCAL_RUN_DIR "/local-net.lock"
#define LOCAL_ALLOC_FILE LOCAL_RUN_DIR "/local-net.alloc"
#define LOCAL_ALLOC_MAX (8u << 20)
#define LOCAL_NAME_MAX 64
#define LOCAL_SHORT_ID 6
#define LOCAL_NETNS_MAX 32
#define LOCAL_TERM_MS 5000
#define LOCAL_KILL_MS 3000
#define LOCAL_MAX_AGENTS 16
#define LOCAL_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct local_ctx {
	char state_dir[PATH_MAX];
	char tower_host[256];
	uint16_t tower_port;
	char *ca_pem;                 /* NULL when only a pin is known */
	char ca_pin[128];
	char agent_binary[PATH_MAX];
	char ip[64];                  /* path of iproute2's ip */
	bool netns;                   /* namespaces on ocbr0, or loopback */
	atomic_int listen_checked;
};

/* What the grandchild needs between fork and exec: all prepared before fork,
 * because the tower may have threads: only async-signal-safe calls are allowed. */
struct spawn_plan {
	char *const *argv;
	char *const *envp;
	const char *workdir;
	const char *hostname;         /* NULL: keep the host's */
	int ns_fd;                    /* -1: stay in this namespace */
	int null_fd, log_fd;
};

/* A failure reported by the grandchild through the pipe. */
struct spawn_failure {
	int step;
	int err;
};

static const char *const spawn_steps[] = {
	"fork", "setsid", "stdio", "setns", "unshare uts", "sethostname", "chdir", "exec",
};

static const char *const ip_paths[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"};

static const char *const passed_env[] = {
	/* a sanitizer build of the agent keeps its options; nothing else leaks,
	 * in particular no cloud credential of the tower's environment */
	"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "LD_LIBRARY_PATH", "TZ",
};

/* ---- small helpers ---- */

/* The last LOCAL_SHORT_ID letters and digits of the overcloud id, lower case. */
static void short_id(const char *id, char out[LOCAL_SHORT_ID + 1])
{
	size_t n = 0;

	for (size_t i = strlen(id); i > 0 && n < LOCAL_SHORT_ID; i--) {
		char c = id[i - 1];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			out[LOCAL_SHORT_ID - 1 - n++] = c;
	}
	memmove(out, out + LOCAL_SHORT_ID - n, n);
	if (n == 0)
		out[n++] = 'x';
	out[n] = '\0';
}

/* "oc-<short>-<slot>"; returns the slot, or -1 when the name is not one of ours. */
static int netns_slot(const char *name)
{
	const char *p = name, *dash;
	int64_t slot;

	if (strncmp(p, "oc-", 3) != 0 || strlen(name) >= LOCAL_NETNS_MAX)
		return -1;
	p += 3;
	dash = strchr(p, '-');
	if (dash == NULL || dash == p || dash - p > LOCAL_SHORT_ID)
		return -1;
	for (const char *q = p; q < dash; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9')))
			return -1;
	if (dash[1] < '0' || dash[1] > '9' || util_parse_int(dash + 1, 0, LOCAL_SLOTS - 1, &slot) != 0)
		return -1;
	return (int)slot;
}

static void slot_address(int slot, char *out, size_t size)
{
	snprintf(out, size, LOCAL_NET_PREFIX ".%d.%d", 1 + slot / 254, 1 + slot % 254);
}

static bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static bool link_exists(const char *ifname)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/class/net/%s", ifname);
	return path_exists(path);
}

/* The address was set by hand (NET_ADDR_SET), not taken from a port. */
static bool bridge_mac_fixed(void)
{
	char buf[8] = "";
	FILE *f = fopen("/sys/class/net/" LOCAL_BRIDGE "/addr_assign_type", "r");

	if (f == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	return atoi(buf) == 3;
}

static bool netns_exists(const char *netns)
{
	char path[96];

	snprintf(path, sizeof(path), "/run/netns/%s", netns);
	return path_exists(path);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- external commands ---- */

/* Runs argv (argv[0] a path) without a shell; stdout dropped, the first
 * line of stderr kept for err. Returns 0 on exit status 0, else -1 with err. */
static int run_cmd(const char *const argv[], char *err, size_t err_size)
{
	static char *const cmd_env[] = {"PATH=" LOCAL_PATH, "LC_ALL=C", NULL};
	posix_spawn_file_actions_t fa;
	int pipefd[2], status, e;
	char out[256], cmd[256];
	size_t used = 0, cmd_len = 0;
	ssize_t n;
	pid_t pid;

	cmd[0] = '\0';
	for (size_t i = 0; argv[i] != NULL && cmd_len < sizeof(cmd); i++)
		cmd_len += (size_t)snprintf(cmd + cmd_len, sizeof(cmd) - cmd_len, "%s%s",
					    i ? " " : "", i ? argv[i] : "ip");
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		snprintf(err, err_size, "%s: pipe: %s", cmd, strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	e = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, cmd_env);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (e != 0) {
		close(pipefd[0]);
		snprintf(err, err_size, "%s: cannot run: %s", cmd, strerror(e));
		return -1;
	}
	while ((n = read(pipefd[0], out + used, sizeof(out) - 1 - used)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		used += (size_t)n;
		if (used == sizeof(out) - 1) {  /* keep the start, drain the rest */
			char sink[256];
			while ((n = read(pipefd[0], sink, sizeof(sink))) > 0 || (n < 0 && errno == EINTR))
				;
			break;
		}
	}
	close(pipefd[0]);
	out[used] = '\0';
	out[strcspn(out, "\n")] = '\0';
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(err, err_size, "%s: waitpid: %s", cmd, strerror(errno));
			return -1;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(err, err_size, "%s: exit %d%s%s", cmd, WEXITSTATUS(status),
			 out[0] ? ": " : "", out);
	else
		snprintf(err, err_size, "%s: killed by signal %d", cmd, WTERMSIG(status));
	return -1;
}

/* ip ARG... NULL */
static int run_ip(const struct local_ctx *c, char *err, size_t err_size, ...)
{
	const char *argv[16];
	size_t n = 0;
	va_list ap;

	argv[n++] = c->ip;
	va_start(ap, err_size);
	while (n < OC_ARRAY_LEN(argv) - 1 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	return run_cmd(argv, err, err_size);
}

/* As root: can we make and remove a namespace and a veth pair? */
static bool netns_probe(struct local_ctx *c)
{
	char err[256], ns[48], rnd[4], hex[9];

	if (c->ip[0] == '\0') {
		log_info("local provider: no iproute2 ip found");
		return false;
	}
	if (util_random(rnd, sizeof(rnd)) != 0)
		return false;
	util_hex(rnd, sizeof(rnd), hex);
	snprintf(ns, sizeof(ns), "ocprobe-%s", hex);
	if (run_ip(c, err, sizeof(err), "netns", "add", ns, NULL) != 0) {
		log_info("local provider: network namespaces unusable: %s", err);
		return false;
	}
	if (run_ip(c, err, sizeof(err), "netns", "del", ns, NULL) != 0)
		log_warn("local provider: %s", err);
	return true;
}

/* ---- /proc ---- */

/* Reads /proc/<pid>/<what> into buf; returns its length or -1. */
static ssize_t proc_read(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[64];
	ssize_t n, used = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((size_t)used < size - 1 && (n = read(fd, buf + used, size - 1 - (size_t)used)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		used += n;
	}
	close(fd);
	buf[used] = '\0';
	return used;
}

/* State letter and session of a process; false when it is gone. */
static bool proc_stat(pid_t pid, char *state, pid_t *sid)
{
	char buf[1024], *p;
	int ppid, pgrp, session;

	if (proc_read(pid, "stat", buf, sizeof(buf)) <= 0 || (p = strrchr(buf, ')')) == NULL)
		return false;
	if (sscanf(p + 1, " %c %d %d %d", state, &ppid, &pgrp, &session) != 4)
		return false;
	*sid = session;
	return true;
}

static bool proc_alive(pid_t pid)
{
	char state;
	pid_t sid;

	return proc_stat(pid, &state, &sid) && state != 'Z' && state != 'X';
}

/* Is pid an agent of this node: its command line has --state <state_path>?
 * (The program name alone would not do: a pid may be reused by another agent.) */
static bool proc_is_agent_of(pid_t pid, const char *state_path)
{
	const size_t cap = 65536;
	char *cmd = malloc(cap);
	ssize_t n;
	bool found = false;

	if (cmd == NULL)
		return false;
	n = proc_read(pid, "cmdline", cmd, cap);
	for (ssize_t i = 0; n > 0 && i < n && !found;) {
		const char *arg = cmd + i;
		ssize_t next = i + (ssize_t)strlen(arg) + 1;

		if (strcmp(arg, "--state") == 0 && next < n)
			found = strcmp(cmd + next, state_path) == 0;
		else if (strncmp(arg, "--state=", 8) == 0)
			found = strcmp(arg + 8, state_path) == 0;
		i = next;
	}
	free(cmd);
	return found;
}

/* Calls fn for every process but this one; stops early when fn returns
 * non-zero. Returns fn's value or 0. */
static int proc_foreach(int (*fn)(pid_t pid, void *arg), void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		int64_t pid;
		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    util_parse_int(de->d_name, 1, INT32_MAX, &pid) != 0 || (pid_t)pid == getpid())
			continue;
		rc = fn((pid_t)pid, arg);
	}
	closedir(d);
	return rc;
}

static int pidfd_open_pid(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

static int signal_pid(pid_t pid, int pidfd, int sig)
{
#ifdef SYS_pidfd_send_signal
	if (pidfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
#endif
	return kill(pid, sig);
}

/* ---- stopping processes ---- */

struct agent_set {
	const char *state_path;
	pid_t pid[LOCAL_MAX_AGENTS];
	int pidfd[LOCAL_MAX_AGENTS];
	bool leader[LOCAL_MAX_AGENTS];    /* its own session leader: kill the session */
	size_t n;
};

/* Pins pid with a pidfd when it is an agent of this node and not yet in the set. */
static void agent_set_add(struct agent_set *s, pid_t pid)
{
	char state;
	pid_t sid;
	int fd;

	if (pid <= 1 || s->n == LOCAL_MAX_AGENTS)
		return;
	for (size_t i = 0; i < s->n; i++)
		if (s->pid[i] == pid)
			return;
	fd = pidfd_open_pid(pid);
	if (fd < 0 && errno == ESRCH)
		return;
	/* checked after pinning: with a pidfd the check and the signal are
	 * about the same process even if the pid is reused in between */
	if (!proc_is_agent_of(pid, s->state_path) || !proc_stat(pid, &state, &sid) ||
	    state == 'Z') {
		if (fd >= 0)
			close(fd);
		return;
	}
	s->pid[s->n] = pid;
	s->pidfd[s->n] = fd;
	s->leader[s->n] = sid == pid;
	s->n++;
}

static int agent_scan_fn(pid_t pid, void *arg)
{
	struct agent_set *s = arg;

	if (proc_is_agent_of(pid, s->state_path))
		agent_set_add(s, pid);
	return 0;
}

static bool agent_gone(const struct agent_set *s, size_t i)
{
	if (s->pidfd[i] >= 0) {
		struct pollfd p = {.fd = s->pidfd[i], .events = POLLIN};
		return poll(&p, 1, 0) == 1;
	}
	return !proc_alive(s->pid[i]);
}

/* Waits up to ms for every agent of the set to exit; true when they did. */
static bool agents_wait(const struct agent_set *s, int ms)
{
	int64_t deadline = util_monotonic_ms() + ms;

	for (;;) {
		size_t alive = 0;
		for (size_t i = 0; i < s->n; i++)
			alive += !agent_gone(s, i);
		if (alive == 0)
			return true;
		if (util_monotonic_ms() >= deadline)
			return false;
		sleep_ms(20);
	}
}

struct kill_match {
	pid_t sid;                    /* > 0: members of this session */
	dev_t ns_dev;                 /* else: members of this netns */
	ino_t ns_ino;
	size_t killed;
};

static int kill_match_fn(pid_t pid, void *arg)
{
	struct kill_match *m = arg;
	char path[64], state;
	struct stat st;
	pid_t sid;

	if (m->sid > 0) {
		if (!proc_stat(pid, &state, &sid) || sid != m->sid || state == 'Z')
			return 0;
	} else {
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
		if (stat(path, &st) != 0 || st.st_dev != m->ns_dev || st.st_ino != m->ns_ino)
			return 0;
		if (!proc_stat(pid, &state, &sid) || state == 'Z')
			return 0;
	}
	if (kill(pid, SIGKILL) == 0)
		m->killed++;
	return 0;
}

/* SIGKILLs what matches until nothing does; false when still some after ms. */
static bool kill_all_matching(struct kill_match *m, int ms)
{
	int64_t deadline = util_monotonic_ms() + ms;

	for (;;) {
		m->killed = 0;
		proc_foreach(kill_match_fn, m);
		if (m->killed == 0)
			return true;
		if (util_monotonic_ms() >= deadline)
			return false;
		sleep_ms(20);
	}
}

/* Stops the agents of a node dir: the pid in agent.pid when it still is one
 * (pids get reused), and any other process started with --state <dir>/state;
 * SIGTERM, a bounded wait, SIGKILL; then what is left of their sessions. */
static int agents_stop(const char *dir, char *err, size_t err_size)
{
	char state_path[PATH_MAX], pid_path[PATH_MAX], *text;
	struct agent_set s = {.state_path = state_path};
	int64_t pid;
	int rc = 0;

	snprintf(state_path, sizeof(state_path), "%s/state", dir);
	snprintf(pid_path, sizeof(pid_path), "%s/agent.pid", dir);
	text = util_read_file(pid_path, 64, NULL);
	if (text != NULL) {
		text[strcspn(text, "\n")] = '\0';
		if (util_parse_int(text, 2, INT32_MAX, &pid) == 0) {
			agent_set_add(&s, (pid_t)pid);
			if (s.n == 0)
				log_info("local node %s: pid %d is not its agent any more, left alone",
					 dir, (int)pid);
		}
		free(text);
	}
	proc_foreach(agent_scan_fn, &s);
	for (size_t i = 0; i < s.n; i++) {
		log_info("local node %s: stopping agent pid %d", dir, (int)s.pid[i]);
		signal_pid(s.pid[i], s.pidfd[i], SIGTERM);
	}
	if (!agents_wait(&s, LOCAL_TERM_MS)) {
		for (size_t i = 0; i < s.n; i++)
			if (!agent_gone(&s, i)) {
				log_warn("local node %s: agent pid %d ignored SIGTERM, killing",
					 dir, (int)s.pid[i]);
				signal_pid(s.pid[i], s.pidfd[i], SIGKILL);
			}
		if (!agents_wait(&s, LOCAL_KILL_MS)) {
			snprintf(err, err_size, "local node %s: agent does not exit", dir);
			rc = -1;
		}
	}
	/* Tasks of the agent stay in its session (the runner only makes process
	 * groups); the session id cannot be reused while they live. */
	for (size_t i = 0; i < s.n && rc == 0; i++) {
		struct kill_match m = {.sid = s.pid[i]};
		if (s.leader[i] && !kill_all_matching(&m, LOCAL_KILL_MS)) {
			snprintf(err, err_size, "local node %s: processes of agent session %d survive SIGKILL",
				 dir, (int)s.pid[i]);
			rc = -1;
		}
	}
	for (size_t i = 0; i < s.n; i++)
		if (s.pidfd[i] >= 0)
			close(s.pidfd[i]);
	return rc;
}

/* ---- address slots and the network (as root) ---- */

static int net_lock(char *err, size_t err_size)
{
	int fd;

	if (util_mkdir_p(LOCAL_RUN_DIR, 0755) != 0 ||
	    (fd = open(LOCAL_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, err_size, "%s: %s", LOCAL_LOCK_FILE, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			snprintf(err, err_size, "flock %s: %s", LOCAL_LOCK_FILE, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void net_unlock(int fd)
{
	if (fd >= 0)
		close(fd);      /* drops the flock */
}

/* The allocation file: one line "<slot> <netns> <node dir>" per node.
 * Returns its text (caller frees) or NULL with err. Lock held. */
static char *alloc_read(char *err, size_t err_size)
{
	char *text = util_read_file(LOCAL_ALLOC_FILE, LOCAL_ALLOC_MAX, NULL);

	if (text == NULL && errno == ENOENT)
		text = strdup("");
	if (text == NULL)
		snprintf(err, err_size, "%s: %s", LOCAL_ALLOC_FILE, strerror(errno));
	return text;
}

static int alloc_write(const char *text, char *err, size_t err_size)
{
	if (util_write_file_nosync(LOCAL_ALLOC_FILE, text, strlen(text), 0600) != 0) {
		snprintf(err, err_size, "%s: %s", LOCAL_ALLOC_FILE, strerror(errno));
		return -1;
	}
	return 0;
}

/* Splits one line of the allocation file in place; false when malformed. */
static bool alloc_parse(char *line, int *slot, char **netns, char **dir)
{
	char *sp1 = strchr(line, ' '), *sp2;
	int64_t v;

	if (sp1 == NULL || (sp2 = strchr(sp1 + 1, ' ')) == NULL)
		return false;
	*sp1 = *sp2 = '\0';
	if (util_parse_int(line, 0, LOCAL_SLOTS - 1, &v) != 0)
		return false;
	*slot = (int)v;
	*netns = sp1 + 1;
	*dir = sp2 + 1;
	return true;
}

/* A slot whose namespace and veth are both gone: its line is stale (a create
 * cut short before it made them, or a namespace deleted by hand). */
static bool slot_stale(int slot, const char *netns)
{
	char ifname[16];

	snprintf(ifname, sizeof(ifname), "ocv%d", slot);
	return !netns_exists(netns) && !link_exists(ifname);
}

/* Takes the lowest free slot for dir and names its netns. Lock held, so no
 * create or teardown is half-way: a line whose namespace and veth are both
 * gone is stale (someone deleted the namespace by hand) and is reclaimed. */
static int alloc_take(const char *oc_id, const char *dir, int *slot_out, char *netns,
		      size_t netns_size, char *err, size_t err_size)
{
	unsigned char *used = calloc(LOCAL_SLOTS, 1);
	char *text = NULL, *out = NULL, *line, *save = NULL, sid[LOCAL_SHORT_ID + 1], ifname[16];
	size_t out_size, out_len = 0;
	int slot = -1, rc = -1;

	if (used == NULL)
		goto nomem;
	if ((text = alloc_read(err, err_size)) == NULL)
		goto out;
	out_size = strlen(text) + strlen(dir) + LOCAL_NETNS_MAX + 32;
	if ((out = malloc(out_size)) == NULL)
		goto nomem;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *copy = strdup(line), *ns, *d;
		int s;

		if (copy == NULL)
			goto nomem;
		if (!alloc_parse(copy, &s, &ns, &d)) {
			log_warn("local provider: dropping a malformed line of " LOCAL_ALLOC_FILE);
			free(copy);
			continue;
		}
		if (slot_stale(s, ns)) {
			log_warn("local provider: namespace %s vanished, reclaiming its address slot", ns);
			free(copy);
			continue;
		}
		used[s] = 1;
		free(copy);
		out_len += (size_t)snprintf(out + out_len, out_size - out_len, "%s\n", line);
	}
	for (int s = 0; s < LOCAL_SLOTS && slot < 0; s++) {
		snprintf(ifname, sizeof(ifname), "ocv%d", s);
		if (!used[s] && !link_exists(ifname))   /* a stray veth: skip its slot */
			slot = s;
	}
	if (slot < 0) {
		snprintf(err, err_size, "no free address in " LOCAL_NET_PREFIX ".0.0/16");
		goto out;
	}
	short_id(oc_id, sid);
	snprintf(netns, netns_size, "oc-%s-%d", sid, slot);
	snprintf(out + out_len, out_size - out_len, "%d %s %s\n", slot, netns, dir);
	if (alloc_write(out, err, err_size) != 0)
		goto out;
	*slot_out = slot;
	rc = 0;
	goto out;
nomem:
	snprintf(err, err_size, "out of memory");
out:
	free(out);
	free(text);
	free(used);
	return rc;
}

/* Drops the line of netns. Lock held. */
static int alloc_release(const char *netns, char *err, size_t err_size)
{
	char *text = alloc_read(err, err_size), *out = NULL, *line, *save = NULL;
	size_t used = 0, len;
	bool changed = false;
	int rc = -1;

	if (text == NULL)
		return -1;
	len = strlen(text);
	if ((out = malloc(len + 1)) == NULL) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *copy = strdup(line), *ns, *d;
		int s;
		bool drop;

		if (copy == NULL) {
			snprintf(err, err_size, "out of memory");
			goto fail;
		}
		drop = alloc_parse(copy, &s, &ns, &d) && strcmp(ns, netns) == 0;
		free(copy);
		if (drop) {
			changed = true;
			continue;
		}
		used += (size_t)snprintf(out + used, len + 1 - used, "%s\n", line);
	}
	out[used] = '\0';
	rc = changed ? alloc_write(out, err, err_size) : 0;
fail:
	free(out);
	free(text);
	return rc;
}

/* The netns names recorded for dir (a create that died half-way). Lock held. */
static size_t alloc_find_dir(const char *dir, char names[][LOCAL_NETNS_MAX], size_t max)
{
	char err[128], *text = alloc_read(err, sizeof(err)), *line, *save = NULL;
	size_t n = 0;

	if (text == NULL)
		return 0;
	for (line = strtok_r(text, "\n", &save); line && n < max; line = strtok_r(NULL, "\n", &save)) {
		char *ns, *d;
		int s;
		if (alloc_parse(line, &s, &ns, &d) && strcmp(d, dir) == 0 && netns_slot(ns) == s)
			snprintf(names[n++], LOCAL_NETNS_MAX, "%s", ns);
	}
	free(text);
	return n;
}

static bool bridge_has_ports(void)
{
	DIR *d = opendir("/sys/class/net/" LOCAL_BRIDGE "/brif");
	struct dirent *de;
	bool ports = false;

	if (d == NULL)
		return false;
	while (!ports && (de = readdir(d)) != NULL)
		ports = de->d_name[0] != '.';
	closedir(d);
	return ports;
}

/* Removes the namespace, the veth, the slot, and the bridge when it has no
 * port left. Lock held; processes in the namespace already killed. */
static int net_teardown(const struct local_ctx *c, const char *netns, char *err, size_t err_size)
{
	char ifname[16];
	int slot = netns_slot(netns), rc = 0;

	snprintf(ifname, sizeof(ifname), "ocv%d", slot);
	/* The veth first: deleting one end takes the namespace's eth0 with it
	 * at once, whereas the kernel dismantles a deleted namespace in the
	 * background, seconds later when it is busy, and we would have to wait
	 * for that before the slot and the bridge are free. */
	if (link_exists(ifname) && run_ip(c, err, err_size, "link", "del", ifname, NULL) != 0 &&
	    link_exists(ifname))
		rc = -1;
	if (netns_exists(netns) && run_ip(c, err, err_size, "netns", "del", netns, NULL) != 0)
		rc = -1;
	if (rc == 0 && alloc_release(netns, err, err_size) != 0)
		rc = -1;
	if (link_exists(LOCAL_BRIDGE) && !bridge_has_ports()) {
		char e2[256];
		if (run_ip(c, e2, sizeof(e2), "link", "del", LOCAL_BRIDGE, NULL) != 0)
			log_warn("local provider: %s", e2);
		else
			log_info("local provider: bridge " LOCAL_BRIDGE " removed, no node uses it");
	}
	return rc;
}

/* Bridge (made on first use), namespace, veth pair, address and route for
 * slot; on failure removes what it made. Lock held. */
static int net_setup(const struct local_ctx *c, int slot, const char *netns, const char *addr,
		     char *err, size_t err_size)
{
	char host_if[16], peer_if[16], cidr[PROVIDER_ADDR_MAX + 8];

	snprintf(host_if, sizeof(host_if), "ocv%d", slot);
	snprintf(peer_if, sizeof(peer_if), "ocp%d", slot);
	snprintf(cidr, sizeof(cidr), "%s/" LOCAL_PREFIX_LEN, addr);
	if (!link_exists(LOCAL_BRIDGE)) {
		if (run_ip(c, err, err_size, "link", "add", LOCAL_BRIDGE, "address", LOCAL_BRIDGE_MAC,
			   "type", "bridge", NULL) != 0)
			goto fail;
		log_info("local provider: bridge " LOCAL_BRIDGE " made, " LOCAL_BRIDGE_ADDR
			 "/" LOCAL_PREFIX_LEN ", " LOCAL_BRIDGE_MAC);
	} else if (!bridge_mac_fixed()) {
		/* Made by an older tower: fixed now, before a port it borrowed
		 * from can go. With arp_notify the change is announced, so the
		 * nodes already on it update their neighbour entry at once. */
		FILE *notify = fopen("/proc/sys/net/ipv4/conf/" LOCAL_BRIDGE "/arp_notify", "w");
		if (notify != NULL) {
			fputs("1\n", notify);
			fclose(notify);
		}
		if (run_ip(c, err, err_size, "link", "set", LOCAL_BRIDGE, "address", LOCAL_BRIDGE_MAC,
			   NULL) != 0)
			goto fail;
		log_info("local provider: bridge " LOCAL_BRIDGE " given the fixed address "
			 LOCAL_BRIDGE_MAC);
	}
	if (run_ip(c, err, err_size, "addr", "replace", LOCAL_BRIDGE_ADDR "/" LOCAL_PREFIX_LEN,
		   "dev", LOCAL_BRIDGE, NULL) != 0 ||
	    run_ip(c, err, err_size, "link", "set", LOCAL_BRIDGE, "up", NULL) != 0 ||
	    run_ip(c, err, err_size, "netns", "add", netns, NULL) != 0 ||
	    run_ip(c, err, err_size, "link", "add", host_if, "type", "veth", "peer", "name",
		   peer_if, NULL) != 0 ||
	    run_ip(c, err, err_size, "link", "set", peer_if, "netns", netns, NULL) != 0 ||
	    run_ip(c, err, err_size, "link", "set", host_if, "master", LOCAL_BRIDGE, "up", NULL) != 0 ||
	    run_ip(c, err, err_size, "-n", netns, "link", "set", "lo", "up", NULL) != 0 ||
	    run_ip(c, err, err_size, "-n", netns, "link", "set", peer_if, "name", "eth0", NULL) != 0 ||
	    run_ip(c, err, err_size, "-n", netns, "addr", "add", cidr, "dev", "eth0", NULL) != 0 ||
	    run_ip(c, err, err_size, "-n", netns, "link", "set", "eth0", "up", NULL) != 0 ||
	    run_ip(c, err, err_size, "-n", netns, "route", "add", "default", "via",
		   LOCAL_BRIDGE_ADDR, NULL) != 0)
		goto fail;
	return 0;
fail:
	{
		char e2[256];
		if (link_exists(peer_if))
			run_ip(c, e2, sizeof(e2), "link", "del", peer_if, NULL);
		if (net_teardown(c, netns, e2, sizeof(e2)) != 0)
			log_warn("local provider: undoing %s: %s", netns, e2);
	}
	return -1;
}

/* Warns once when the tower's agent port does not answer on the bridge
 * address: nodes in namespaces could never enroll. */
static void check_listen(struct local_ctx *c)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->tower_port)};
	struct pollfd p;
	int fd, soerr = 0;
	socklen_t len = sizeof(soerr);

	if (atomic_exchange(&c->listen_checked, 1) != 0)
		return;
	inet_pton(AF_INET, LOCAL_BRIDGE_ADDR, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		soerr = errno;
		if (soerr == EINPROGRESS) {
			p = (struct pollfd){.fd = fd, .events = POLLOUT};
			soerr = poll(&p, 1, 1000) == 1 &&
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 ? soerr : ETIMEDOUT;
		}
	}
	close(fd);
	if (soerr != 0)
		log_warn("local provider: the tower's agent port %u does not answer on " LOCAL_BRIDGE_ADDR
			 " (%s); nodes in namespaces dial it there: listen on 0.0.0.0:%u",
			 (unsigned)c->tower_port, strerror(soerr), (unsigned)c->tower_port);
}

/* ---- removing a node ---- */

/* Splits and checks a handle: "<netns>|host:<abs dir>" whose dir ends in
 * /local/<overcloud id>/<name>, so that a bad handle never removes an
 * arbitrary tree. Returns 0, or -1 with err. */
static int handle_parse(const char *handle, const char *oc_id, char *netns, size_t netns_size,
			char *dir, size_t dir_size, char *err, size_t err_size)
{
	const char *colon = strchr(handle, ':'), *path;
	char copy[PROVIDER_HANDLE_MAX], *name, *oc, *local;
	size_t ns_len;

	if (colon == NULL || (ns_len = (size_t)(colon - handle)) >= netns_size)
		goto bad;
	memcpy(netns, handle, ns_len);
	netns[ns_len] = '\0';
	if (strcmp(netns, "host") != 0 && netns_slot(netns) < 0)
		goto bad;
	path = colon + 1;
	if (path[0] != '/' || strlen(path) >= dir_size || strlen(path) >= sizeof(copy) ||
	    strstr(path, "/../") || strstr(path, "/./") || strstr(path, "//"))
		goto bad;
	snprintf(copy, sizeof(copy), "%s", path);
	if ((name = strrchr(copy, '/')) == NULL || name == copy)
		goto bad;
	*name++ = '\0';
	if ((oc = strrchr(copy, '/')) == NULL || oc == copy)
		goto bad;
	*oc++ = '\0';
	local = strrchr(copy, '/');
	if (local == NULL || strcmp(local + 1, "local") != 0 || !util_name_ok(name, LOCAL_NAME_MAX) ||
	    !util_name_ok(oc, LOCAL_NAME_MAX) ||
	    (oc_id != NULL && strcmp(oc, oc_id) != 0))
		goto bad;
	snprintf(dir, dir_size, "%s", path);
	return 0;
bad:
	snprintf(err, err_size, "local provider: not a local node handle: %.*s", 160, handle);
	return -1;
}

/* Everything of one node: agents, namespace processes and network, its dir
 * and the overcloud dir when it was the last. Idempotent. */
static int node_teardown(const struct local_ctx *c, const char *netns, const char *dir,
			 char *err, size_t err_size)
{
	char parent[PATH_MAX], *slash;
	int rc = 0;

	if (agents_stop(dir, err, err_size) != 0)
		rc = -1;
	if (netns != NULL && netns_exists(netns)) {
		char path[96];
		struct stat st;
		struct kill_match m = {0};

		snprintf(path, sizeof(path), "/run/netns/%s", netns);
		if (stat(path, &st) == 0) {
			m.ns_dev = st.st_dev;
			m.ns_ino = st.st_ino;
			if (!kill_all_matching(&m, LOCAL_KILL_MS)) {
				snprintf(err, err_size, "local node %s: processes in %s survive SIGKILL",
					 dir, netns);
				rc = -1;
			}
		}
	}
	/* whatever mode this context creates in: a namespace node made by an
	 * earlier tower is still removed when we can */
	if (netns != NULL && rc == 0 && geteuid() == 0 && c->ip[0] != '\0') {
		int lock = net_lock(err, err_size);
		if (lock < 0 || net_teardown(c, netns, err, err_size) != 0)
			rc = -1;
		net_unlock(lock);
	} else if (netns != NULL && rc == 0 && netns_exists(netns)) {
		snprintf(err, err_size, "local node %s: namespace %s exists but this tower cannot "
			 "remove namespaces (not root?)", dir, netns);
		rc = -1;
	}
	if (rc == 0 && util_remove_tree(dir) != 0 && errno != ENOENT) {
		snprintf(err, err_size, "local node %s: remove: %s", dir, strerror(errno));
		rc = -1;
	}
	if (rc == 0) {
		/* the overcloud dir and local/ go with their last node */
		snprintf(parent, sizeof(parent), "%s", dir);
		for (int up = 0; up < 2 && (slash = strrchr(parent, '/')) != NULL && slash != parent; up++) {
			*slash = '\0';
			if (rmdir(parent) != 0)
				break;
		}
	}
	return rc;
}

/* A dir (or slot) of the same node from a create that did not finish. */
static int leftover_cleanup(const struct local_ctx *c, const char *dir, char *err, size_t err_size)
{
	char names[4][LOCAL_NETNS_MAX];
	size_t n = 0;

	if (geteuid() == 0 && path_exists(LOCAL_ALLOC_FILE)) {
		int lock = net_lock(err, err_size);
		size_t found;

		if (lock < 0)
			return -1;
		found = alloc_find_dir(dir, names, OC_ARRAY_LEN(names));
		/* A stale slot goes now, under this lock: once unlocked, another
		 * node's create may reclaim it and make a namespace of the same
		 * name, which this cleanup must not then tear down. */
		for (size_t i = 0; i < found; i++) {
			if (!slot_stale(netns_slot(names[i]), names[i])) {
				memmove(names[n++], names[i], LOCAL_NETNS_MAX);
				continue;
			}
			if (alloc_release(names[i], err, err_size) != 0) {
				net_unlock(lock);
				return -1;
			}
		}
		net_unlock(lock);
	}
	if (n == 0 && !path_exists(dir))
		return 0;
	log_warn("local node %s: left over from an earlier attempt, removing it", dir);
	for (size_t i = 0; i < n; i++)
		if (node_teardown(c, names[i], dir, err, err_size) != 0)
			return -1;
	return node_teardown(c, NULL, dir, err, err_size);
}

/* ---- starting the agent ---- */

static _Noreturn void spawn_fail(int pipe_fd, int step)
{
	struct spawn_failure f = {.step = step, .err = errno};
	ssize_t n = write(pipe_fd, &f, sizeof(f));

	(void)n;
	_exit(127);
}

/* The grandchild: async-signal-safe calls only. */
static _Noreturn void spawn_exec(const struct spawn_plan *p, int pipe_fd)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	if (setsid() < 0)
		spawn_fail(pipe_fd, 1);
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);     /* the tower ignores SIGPIPE; tasks must not */
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(p->null_fd, 0) < 0 || dup2(p->log_fd, 1) < 0 || dup2(p->log_fd, 2) < 0)
		spawn_fail(pipe_fd, 2);
	if (p->ns_fd >= 0 && setns(p->ns_fd, CLONE_NEWNET) != 0)
		spawn_fail(pipe_fd, 3);
	if (p->hostname != NULL) {
		if (unshare(CLONE_NEWUTS) != 0)
			spawn_fail(pipe_fd, 4);
		if (sethostname(p->hostname, strlen(p->hostname)) != 0)
			spawn_fail(pipe_fd, 5);
	}
	if (chdir(p->workdir) != 0)
		spawn_fail(pipe_fd, 6);
	/* descriptors the tower's other threads left open must not leak */
	if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0)
		for (int fd = 3; fd < 1024; fd++)
			if (fd != pipe_fd)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
	execve(p->argv[0], p->argv, p->envp);
	spawn_fail(pipe_fd, 7);
}

static bool read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/* Starts the agent detached from the tower (double fork, own session), so it
 * neither dies nor becomes a zombie with it. Returns its pid or -1 with err.
 * The grandchild's pid and an exec failure come back on two pipes: on one
 * they raced, and a failure read as a pid garbled the error. */
static pid_t spawn_daemon(const struct spawn_plan *p, char *err, size_t err_size)
{
	struct spawn_failure f;
	int pid_pipe[2], fail_pipe[2], status;
	pid_t child, pid = -1;
	bool got_pid;

	if (pipe2(pid_pipe, O_CLOEXEC) != 0) {
		snprintf(err, err_size, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(fail_pipe, O_CLOEXEC) != 0) {
		snprintf(err, err_size, "pipe: %s", strerror(errno));
		close(pid_pipe[0]);
		close(pid_pipe[1]);
		return -1;
	}
	child = fork();
	if (child < 0) {
		snprintf(err, err_size, "fork: %s", strerror(errno));
		close(pid_pipe[0]);
		close(pid_pipe[1]);
		close(fail_pipe[0]);
		close(fail_pipe[1]);
		return -1;
	}
	if (child == 0) {
		pid_t grandchild;
		ssize_t n;

		close(pid_pipe[0]);
		close(fail_pipe[0]);
		grandchild = fork();
		if (grandchild == 0) {
			close(pid_pipe[1]);
			spawn_exec(p, fail_pipe[1]);
		}
		if (grandchild < 0)
			spawn_fail(fail_pipe[1], 0);
		close(fail_pipe[1]);
		n = write(pid_pipe[1], &grandchild, sizeof(grandchild));
		_exit(n == sizeof(grandchild) ? 0 : 1);
	}
	close(pid_pipe[1]);
	close(fail_pipe[1]);
	/* end of file on the failure pipe means exec worked (close-on-exec) */
	got_pid = read_full(pid_pipe[0], &pid, sizeof(pid));
	if (read_full(fail_pipe[0], &f, sizeof(f))) {
		snprintf(err, err_size, "cannot start %s: %s: %s", p->argv[0],
			 spawn_steps[f.step >= 0 && f.step < (int)OC_ARRAY_LEN(spawn_steps) ? f.step : 7],
			 strerror(f.err));
		pid = -1;
	} else if (!got_pid) {
		snprintf(err, err_size, "cannot start the agent");
		pid = -1;
	}
	close(pid_pipe[0]);
	close(fail_pipe[0]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	return pid;
}

/* Builds the agent's environment: a fixed PATH and HOME, and only the
 * variables in passed_env from the tower's. Caller frees the array (not the
 * strings: they are home and environ's own). */
static char **agent_env(const char *home)
{
	static char path[] = "PATH=" LOCAL_PATH;
	char **env = calloc(OC_ARRAY_LEN(passed_env) + 3, sizeof(*env));
	size_t n = 0;

	if (env == NULL)
		return NULL;
	env[n++] = path;
	env[n++] = (char *)home;
	for (size_t i = 0; i < OC_ARRAY_LEN(passed_env); i++) {
		size_t klen = strlen(passed_env[i]);
		for (char **e = environ; e != NULL && *e != NULL; e++) {
			if (strncmp(*e, passed_env[i], klen) == 0 && (*e)[klen] == '=') {
				env[n++] = *e;
				break;
			}
		}
	}
	env[n] = NULL;
	return env;
}

/* ---- the vtable ---- */

static void local_close(void *ctx)
{
	struct local_ctx *c = ctx;

	if (c == NULL)
		return;
	free(c->ca_pem);
	free(c);
}

/* The agent the nodes run: the one the tower found next to itself, else the
 * package's for this machine (/usr/lib/overcloud/agents/overcloud-agent-ARCH,
 * what the tower serves; an installed tower has no overcloud-agent beside it). */
static const char *local_agent_binary(const char *given, char *packaged, size_t size)
{
	const char *arch = artifacts_host_arch();

	snprintf(packaged, size, "/usr/lib/overcloud/agents/overcloud-agent-%s", arch ? arch : "unknown");
	if (given != NULL && given[0] == '/' && access(given, X_OK) == 0)
		return given;
	return arch != NULL && access(packaged, X_OK) == 0 ? packaged : NULL;
}

static void *local_open(const struct provider_env *env, char *err, size_t err_size)
{
	char packaged[PATH_MAX];
	const char *agent;
	struct local_ctx *c = NULL;
	const char *force = getenv("OC_LOCAL_NO_NETNS");

	if (env == NULL || env->state_dir == NULL || env->state_dir[0] != '/' ||
	    strchr(env->state_dir, '\n') != NULL) {
		snprintf(err, err_size, "local provider: the state dir must be an absolute path");
		return NULL;
	}
	agent = local_agent_binary(env->agent_binary, packaged, sizeof(packaged));
	if (agent == NULL) {
		snprintf(err, err_size, "local provider: agent binary %s is not an executable absolute path"
			 " (nor is %s)", env->agent_binary ? env->agent_binary : "(none)", packaged);
		return NULL;
	}
	if (env->tower_host == NULL || env->tower_host[0] == '\0' || env->tower_port == 0) {
		snprintf(err, err_size, "local provider: no tower address for the agents");
		return NULL;
	}
	if ((env->ca_pem == NULL || env->ca_pem[0] == '\0') &&
	    (env->ca_pin == NULL || strncmp(env->ca_pin, "sha256:", 7) != 0)) {
		snprintf(err, err_size, "local provider: neither the CA nor its pin is known");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto nomem;
	if (snprintf(c->state_dir, sizeof(c->state_dir), "%s", env->state_dir) >= (int)sizeof(c->state_dir) ||
	    snprintf(c->tower_host, sizeof(c->tower_host), "%s", env->tower_host) >= (int)sizeof(c->tower_host) ||
	    snprintf(c->agent_binary, sizeof(c->agent_binary), "%s", agent) >= (int)sizeof(c->agent_binary)) {
		snprintf(err, err_size, "local provider: path or host too long");
		goto fail;
	}
	c->tower_port = env->tower_port;
	if (env->ca_pem != NULL && env->ca_pem[0] != '\0' && (c->ca_pem = strdup(env->ca_pem)) == NULL)
		goto nomem;
	if (env->ca_pin != NULL)
		snprintf(c->ca_pin, sizeof(c->ca_pin), "%s", env->ca_pin);
	for (size_t i = 0; i < OC_ARRAY_LEN(ip_paths) && c->ip[0] == '\0'; i++)
		if (access(ip_paths[i], X_OK) == 0)
			snprintf(c->ip, sizeof(c->ip), "%s", ip_paths[i]);
	if (force != NULL && strcmp(force, "1") == 0)
		log_info("local provider: nodes on loopback (OC_LOCAL_NO_NETNS=1)");
	else if (geteuid() != 0)
		log_info("local provider: nodes on loopback (not root)");
	else if ((c->netns = netns_probe(c)))
		log_info("local provider: nodes in network namespaces on " LOCAL_BRIDGE ", "
			 LOCAL_NET_PREFIX ".0.0/16; they dial the tower at " LOCAL_BRIDGE_ADDR ":%u",
			 (unsigned)c->tower_port);
	else
		log_info("local provider: nodes on loopback (no usable network namespaces)");
	return c;
nomem:
	snprintf(err, err_size, "local provider: out of memory");
fail:
	local_close(c);
	return NULL;
}

static int local_destroy_node(void *ctx, const char *overcloud_id, const struct provider_node *node,
			      char *err, size_t err_size)
{
	struct local_ctx *c = ctx;
	char netns[LOCAL_NETNS_MAX], dir[PATH_MAX];

	if (node == NULL || node->handle[0] == '\0')
		return 0;       /* nothing was made */
	if (handle_parse(node->handle, overcloud_id, netns, sizeof(netns), dir, sizeof(dir),
			 err, err_size) != 0)
		return -1;
	if (node_teardown(c, strcmp(netns, "host") == 0 ? NULL : netns, dir, err, err_size) != 0)
		return -1;
	log_info("local node %s: destroyed", dir);
	return 0;
}

/* Every replica's agent address for a node's join line: a node in a
 * namespace reaches this host through the bridge, so each replica is the
 * bridge's address with its port (replicas of a local provider share the
 * host); on loopback the addresses are taken as they are. The list stays
 * what out holds already when an entry is not host:port. */
static void agent_towers(const struct local_ctx *c, const char *towers, char *out, size_t size)
{
	char list[1024] = "", entry[300];
	const char *p = towers;

	while (*p != '\0') {
		size_t len = strcspn(p, ","), used = strlen(list);
		const char *colon;

		if (len == 0 || len >= sizeof(entry))
			return;
		memcpy(entry, p, len);
		entry[len] = '\0';
		colon = strrchr(entry, ':');
		if (colon == NULL || colon[1] == '\0')
			return;
		if (snprintf(list + used, sizeof(list) - used, "%s%s%s", used ? "," : "",
			     c->netns ? LOCAL_BRIDGE_ADDR : "", c->netns ? colon : entry) >=
		    (int)(sizeof(list) - used))
			return;
		p += len + (p[len] == ',');
	}
	if (list[0] != '\0' && strlen(list) < size)
		snprintf(out, size, "%s", list);
}

static int local_create_node(void *ctx, const struct provider_node_request *req,
			     struct provider_node *out, char *err, size_t err_size)
{
	struct local_ctx *c = ctx;
	struct spawn_plan plan = {.ns_fd = -1, .null_fd = -1, .log_fd = -1};
	struct provider_node made = {.handle = ""};
	char dir[PATH_MAX], ca_path[PATH_MAX], state_path[PATH_MAX], log_path[PATH_MAX];
	char pid_path[PATH_MAX], home[PATH_MAX + 8], tower[1024], netns[LOCAL_NETNS_MAX] = "host";
	char pidtext[24], e2[256], ns_path[96];
	const char *argv[12];
	char **envp = NULL;
	size_t n = 0;
	int slot = -1, lock;
	pid_t pid;

	memset(out, 0, sizeof(*out));
	if (req == NULL || !util_name_ok(req->overcloud_id, LOCAL_NAME_MAX) ||
	    !util_name_ok(req->name, LOCAL_NAME_MAX)) {
		snprintf(err, err_size, "local provider: overcloud id and node name must be 1-%d "
			 "characters of A-Z a-z 0-9 . _ -, not starting with . or -", LOCAL_NAME_MAX);
		return -1;
	}
	if (req->join_token == NULL || req->join_token[0] == '\0') {
		snprintf(err, err_size, "local node %s: no join token", req->name);
		return -1;
	}
	if (snprintf(dir, sizeof(dir), "%s/local/%s/%s", c->state_dir, req->overcloud_id,
		     req->name) >= (int)sizeof(dir) ||
	    strlen(dir) + LOCAL_NETNS_MAX + 1 >= PROVIDER_HANDLE_MAX) {
		snprintf(err, err_size, "local node %s: the state dir path is too long for a handle",
			 req->name);
		return -1;
	}
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
	snprintf(state_path, sizeof(state_path), "%s/state", dir);
	snprintf(log_path, sizeof(log_path), "%s/agent.log", dir);
	snprintf(pid_path, sizeof(pid_path), "%s/agent.pid", dir);
	snprintf(home, sizeof(home), "HOME=%s", dir);

	if (leftover_cleanup(c, dir, err, err_size) != 0)
		return -1;
	if (util_mkdir_p(dir, 0700) != 0) {
		snprintf(err, err_size, "local node %s: mkdir %s: %s", req->name, dir, strerror(errno));
		return -1;
	}
	/* from here on, a failure removes the node through its handle */
	snprintf(made.handle, sizeof(made.handle), "host:%s", dir);
	snprintf(made.address, sizeof(made.address), "127.0.0.1");
	if (c->ca_pem != NULL &&
	    util_write_file(ca_path, c->ca_pem, strlen(c->ca_pem), 0644) != 0) {
		snprintf(err, err_size, "local node %s: %s: %s", req->name, ca_path, strerror(errno));
		goto fail;
	}
	if (c->netns) {
		if ((lock = net_lock(err, err_size)) < 0)
			goto fail;
		if (alloc_take(req->overcloud_id, dir, &slot, netns, sizeof(netns), err, err_size) != 0) {
			net_unlock(lock);
			goto fail;
		}
		snprintf(made.handle, sizeof(made.handle), "%s:%s", netns, dir);
		slot_address(slot, made.address, sizeof(made.address));
		if (net_setup(c, slot, netns, made.address, err, err_size) != 0) {
			net_unlock(lock);
			goto fail;
		}
		net_unlock(lock);
		check_listen(c);
		snprintf(tower, sizeof(tower), LOCAL_BRIDGE_ADDR ":%u", (unsigned)c->tower_port);
		snprintf(ns_path, sizeof(ns_path), "/run/netns/%s", netns);
		if ((plan.ns_fd = open(ns_path, O_RDONLY | O_CLOEXEC)) < 0) {
			snprintf(err, err_size, "local node %s: %s: %s", req->name, ns_path, strerror(errno));
			goto fail;
		}
		plan.hostname = req->name;
	} else if (strchr(c->tower_host, ':') != NULL && c->tower_host[0] != '[') {
		snprintf(tower, sizeof(tower), "[%s]:%u", c->tower_host, (unsigned)c->tower_port);
	} else {
		snprintf(tower, sizeof(tower), "%s:%u", c->tower_host, (unsigned)c->tower_port);
	}

	if (req->towers != NULL)
		agent_towers(c, req->towers, tower, sizeof(tower));
	argv[n++] = c->agent_binary;
	argv[n++] = "join";
	argv[n++] = "--tower";
	argv[n++] = tower;
	argv[n++] = "--token";          /* visible in ps until the agent exits; single-use */
	argv[n++] = req->join_token;
	argv[n++] = c->ca_pem != NULL ? "--ca" : "--ca-hash";
	argv[n++] = c->ca_pem != NULL ? ca_path : c->ca_pin;
	argv[n++] = "--state";
	argv[n++] = state_path;
	argv[n] = NULL;
	if ((envp = agent_env(home)) == NULL) {
		snprintf(err, err_size, "local node %s: out of memory", req->name);
		goto fail;
	}
	plan.argv = (char *const *)argv;
	plan.envp = envp;
	plan.workdir = dir;
	if ((plan.null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
	    (plan.log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, err_size, "local node %s: %s: %s", req->name, log_path, strerror(errno));
		goto fail;
	}
	pid = spawn_daemon(&plan, e2, sizeof(e2));
	if (pid < 0) {
		snprintf(err, err_size, "local node %s: %s", req->name, e2);
		goto fail;
	}
	snprintf(pidtext, sizeof(pidtext), "%d\n", (int)pid);
	if (util_write_file(pid_path, pidtext, strlen(pidtext), 0644) != 0) {
		snprintf(err, err_size, "local node %s: %s: %s", req->name, pid_path, strerror(errno));
		goto fail;      /* the teardown finds the agent by its command line */
	}
	close(plan.log_fd);
	close(plan.null_fd);
	if (plan.ns_fd >= 0)
		close(plan.ns_fd);
	free(envp);
	log_info("local node %s: agent pid %d started%s%s, address %s", req->name, (int)pid,
		 slot >= 0 ? " in namespace " : " on loopback", slot >= 0 ? netns : "",
		 made.address);
	*out = made;
	return 0;
fail:
	if (plan.log_fd >= 0)
		close(plan.log_fd);
	if (plan.null_fd >= 0)
		close(plan.null_fd);
	if (plan.ns_fd >= 0)
		close(plan.ns_fd);
	free(envp);
	if (local_destroy_node(c, req->overcloud_id, &made, e2, sizeof(e2)) != 0)
		log_warn("local node %s: undoing a failed create: %s", req->name, e2);
	return -1;
}

const struct provider_ops provider_local = {
	.name = "local",
	.open = local_open,
	.close = local_close,
	.create_node = local_create_node,
	.destroy_node = local_destroy_node,
};
