/* test_provider_local.c — the local provider with a fake agent: the exact join command,
 * files, a daemon that outlives its parent, destroy that leaves nothing; provider_find. */

/* Destroy also spares reused pids, refuses foreign handles and, as root, clears
 * a namespace node with the processes left in it.
 *
 * The loopback tests set OC_LOCAL_NO_NETNS=1 (the provider's switch that forces
 * loopback mode even as root). The netns test runs only as root; other tests
 * may have nodes on ocbr0 at the same time, so what it checks at the end is
 * the host's consistency under the provider's lock, not an empty host.
 *
 * `test_provider_local tool STATE HOST PORT AGENT create OC NAME TOKEN` and
 * `... destroy OC HANDLE` drive the provider directly for that integration
 * test: create prints "<handle>\t<address>". The CA is read from STATE/ca.pem
 * (a tower state dir, which is also the provider's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/providers/provider.h"

#define TOKEN "a1b2c3d4e5f6.0123456789abcdef0123456789abcdef"
#define CA_PEM "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
#define OC_ID "oc-7f3a9c21"

struct fixture {
	char tmp[64];
	char state[128];
	char rec[128];
	char agent[128];              /* the fake agent */
	char bad_agent[128];          /* a script whose interpreter does not exist */
	struct provider_node ns_nodes[2];  /* test_netns's, removed by the teardown if it fails */
};

static struct fixture fx;

/* ---- helpers ---- */

static void write_text(const char *path, const char *text, mode_t mode)
{
	assert_int_equal(util_write_file(path, text, strlen(text), mode), 0);
}

static char *read_text(const char *path)
{
	return util_read_file(path, 1 << 20, NULL);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static bool pid_alive(pid_t pid)
{
	char path[64], *stat, *p;
	bool alive;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((stat = read_text(path)) == NULL)
		return false;
	p = strrchr(stat, ')');
	alive = p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	free(stat);
	return alive;
}

/* ppid and session of a live process */
static void pid_parent_session(pid_t pid, int *ppid, int *sid)
{
	char path[64], *stat, *p, st;
	int pgrp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	assert_non_null(stat = read_text(path));
	assert_non_null(p = strrchr(stat, ')'));
	assert_int_equal(sscanf(p + 1, " %c %d %d %d", &st, ppid, &pgrp, sid), 4);
	free(stat);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Waits up to 10 s for path to exist; fails with the path otherwise. */
static void wait_for_file(const char *path)
{
	int64_t deadline = util_monotonic_ms() + 10000;

	while (!exists(path)) {
		if (util_monotonic_ms() > deadline)
			fail_msg("gave up waiting for %s", path);
		sleep_ms(20);
	}
}

static int read_pid(const char *path)
{
	char *text = read_text(path);
	int64_t v = -1;

	assert_non_null(text);
	text[strcspn(text, "\n")] = '\0';
	assert_int_equal(util_parse_int(text, 2, INT32_MAX, &v), 0);
	free(text);
	return (int)v;
}

static void node_dir(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/local/%s/%s", fx.state, OC_ID, name);
}

static void *open_provider(const char *agent)
{
	struct provider_env env = {
		.state_dir = fx.state,
		.tower_host = "127.0.0.1",
		.tower_port = 6126,
		.ca_pem = CA_PEM,
		.ca_pin = "sha256:00",
		.agent_binary = agent,
	};
	char err[256] = "";
	void *ctx = provider_local.open(&env, err, sizeof(err));

	if (ctx == NULL)
		fail_msg("open: %s", err);
	return ctx;
}

static void create_ok(void *ctx, const char *name, struct provider_node *node)
{
	struct provider_node_request req = {
		.overcloud_id = OC_ID, .name = name, .group = "cluster", .join_token = TOKEN,
	};
	char err[256] = "";

	if (provider_local.create_node(ctx, &req, node, err, sizeof(err)) != 0)
		fail_msg("create %s: %s", name, err);
}

static void destroy_ok(void *ctx, const struct provider_node *node)
{
	char err[256] = "";

	if (provider_local.destroy_node(ctx, OC_ID, node, err, sizeof(err)) != 0)
		fail_msg("destroy %s: %s", node->handle, err);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
	char script[2048];

	snprintf(fx.tmp, sizeof(fx.tmp), "/tmp/oc-plocal.XXXXXX");
	if (mkdtemp(fx.tmp) == NULL)
		return -1;
	snprintf(fx.state, sizeof(fx.state), "%s/state", fx.tmp);
	snprintf(fx.rec, sizeof(fx.rec), "%s/rec", fx.tmp);
	snprintf(fx.agent, sizeof(fx.agent), "%s/fake-agent", fx.tmp);
	snprintf(fx.bad_agent, sizeof(fx.bad_agent), "%s/bad-agent", fx.tmp);
	if (mkdir(fx.state, 0700) != 0 || mkdir(fx.rec, 0700) != 0)
		return -1;
	/* Records what it was started with, leaves a child in its session and,
	 * when it can, one that escapes the session (a task that setsid()s);
	 * the argv file appears last. Then stays up like the agent. */
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n"
		 "rec=%s\n"
		 "env > \"$rec/env.$$\"\n"
		 "hostname > \"$rec/hostname.$$\"\n"
		 "ip -4 -o addr show dev eth0 > \"$rec/net.$$\" 2>&1\n"
		 "ip route show default >> \"$rec/net.$$\" 2>&1\n"
		 "sleep 1000 &\n"
		 "echo $! > \"$rec/child.$$\"\n"
		 "setsid sleep 1001 &\n"
		 "echo $! > \"$rec/escaped.$$\"\n"
		 "printf '%%s\\n' \"$@\" > \"$rec/argv.$$.tmp\"\n"
		 "mv \"$rec/argv.$$.tmp\" \"$rec/argv.$$\"\n"
		 "wait\n",
		 fx.rec);
	write_text(fx.agent, script, 0755);
	write_text(fx.bad_agent, "#!/nonexistent/interpreter\n", 0755);
	setenv("OC_LOCAL_NO_NETNS", "1", 1);
	/* the tower's environment may hold cloud credentials: none may reach a node */
	setenv("OS_PASSWORD", "cloud-secret", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "cloud-secret", 1);
	return 0;
}

/* Kills pid when its command line still contains needle (pids get reused). */
static void kill_if(pid_t pid, const char *needle)
{
	char path[64], *cmd;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return;
	cmd = calloc(1, 4097);
	len = cmd ? read(fd, cmd, 4096) : -1;
	close(fd);
	for (ssize_t i = 0; i < len; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	if (len > 0 && strstr(cmd, needle) != NULL)
		kill(pid, SIGKILL);
	free(cmd);
}

/* A failed test may leave fake agents and their children: the records name them. */
static void sweep_records(void)
{
	DIR *d = opendir(fx.rec);
	struct dirent *de;
	char path[PATH_MAX + 300], *text;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *dot = strchr(de->d_name, '.');
		if (dot == NULL || strchr(dot + 1, '.') != NULL)
			continue;
		kill_if((pid_t)atoi(dot + 1), fx.agent);
		if (strncmp(de->d_name, "child.", 6) != 0 && strncmp(de->d_name, "escaped.", 8) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", fx.rec, de->d_name);
		if ((text = read_text(path)) != NULL) {
			kill_if((pid_t)atoi(text), "sleep 100");
			free(text);
		}
	}
	closedir(d);
}

static int group_teardown(void **state)
{
	char err[256];
	void *ctx;

	unsetenv("OC_LOCAL_NO_NETNS");
	for (size_t i = 0; i < 2; i++) {
		if (fx.ns_nodes[i].handle[0] == '\0')
			continue;
		ctx = open_provider(fx.agent);
		if (provider_local.destroy_node(ctx, OC_ID, &fx.ns_nodes[i], err, sizeof(err)) != 0)
			fprintf(stderr, "teardown: %s\n", err);
		provider_local.close(ctx);
	}
	sweep_records();
	util_remove_tree(fx.tmp);
	return 0;
}

/* ---- provider_find ---- */

static void test_find(void **state)
{
	assert_ptr_equal(provider_find("local"), &provider_local);
	assert_ptr_equal(provider_find("LOCAL"), &provider_local);
	assert_ptr_equal(provider_find("Local"), &provider_local);
	assert_null(provider_find("localx"));
	assert_null(provider_find(""));
	assert_null(provider_find(NULL));
	/* the clouds: tested in test_provider_openstack.c and test_provider_aws.c */
	assert_non_null(provider_find("OpenStack"));
	assert_non_null(provider_find("aws"));
	assert_ptr_equal(provider_find("Amazon"), provider_find("aws"));
}

/* ---- open / close ---- */

static void test_open_rejects(void **state)
{
	struct provider_env good = {
		.state_dir = fx.state, .tower_host = "127.0.0.1", .tower_port = 6126,
		.ca_pem = CA_PEM, .ca_pin = NULL, .agent_binary = fx.agent,
	};
	struct provider_env env;
	char err[256];
	void *ctx;

	ctx = provider_local.open(&good, err, sizeof(err));
	assert_non_null(ctx);
	provider_local.close(ctx);
	provider_local.close(NULL);

	env = good;
	env.state_dir = "relative/state";
	err[0] = '\0';
	assert_null(provider_local.open(&env, err, sizeof(err)));
	assert_non_null(strstr(err, "absolute"));

	env = good;
	env.agent_binary = "/nonexistent/overcloud-agent";
	err[0] = '\0';
	assert_null(provider_local.open(&env, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/overcloud-agent"));

	env = good;
	env.tower_port = 0;
	err[0] = '\0';
	assert_null(provider_local.open(&env, err, sizeof(err)));
	assert_non_null(strstr(err, "tower"));

	env = good;
	env.ca_pem = NULL;
	err[0] = '\0';
	assert_null(provider_local.open(&env, err, sizeof(err)));
	assert_non_null(strstr(err, "CA"));
}

/* ---- create / destroy on loopback ---- */

static void test_create_destroy(void **state)
{
	void *ctx = open_provider(fx.agent);
	struct provider_node node;
	char dir[512], path[PATH_MAX + 64], want_handle[PATH_MAX + 8], logpath[PATH_MAX];
	char *text, *line, *save = NULL, expect[10][600];
	struct stat st;
	int pid, child, escaped, ppid, sid, saved_stderr, logfd;
	size_t n = 0;

	node_dir(dir, sizeof(dir), "oc1-post-1");
	/* the provider's log lines for this create go to a file: no token in them */
	snprintf(logpath, sizeof(logpath), "%s/provider.log", fx.tmp);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(logfd >= 0);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(logfd, 2);
	create_ok(ctx, "oc1-post-1", &node);
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	close(logfd);

	snprintf(want_handle, sizeof(want_handle), "host:%s", dir);
	assert_string_equal(node.handle, want_handle);
	assert_string_equal(node.address, "127.0.0.1");
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* ca.pem: the tower's CA as it is, 0644 (a public certificate) */
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	assert_non_null(text = read_text(path));
	assert_string_equal(text, CA_PEM);
	free(text);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	/* the pid file names the agent itself, a daemon: not our child, own session */
	snprintf(path, sizeof(path), "%s/agent.pid", dir);
	pid = read_pid(path);
	snprintf(path, sizeof(path), "%s/argv.%d", fx.rec, pid);
	wait_for_file(path);
	assert_true(pid_alive(pid));
	pid_parent_session(pid, &ppid, &sid);
	assert_int_not_equal(ppid, getpid());
	assert_int_equal(sid, pid);

	/* argv is exactly the join command cloud-init would run */
	snprintf(expect[0], sizeof(expect[0]), "join");
	snprintf(expect[1], sizeof(expect[0]), "--tower");
	snprintf(expect[2], sizeof(expect[0]), "127.0.0.1:6126");
	snprintf(expect[3], sizeof(expect[0]), "--token");
	snprintf(expect[4], sizeof(expect[0]), "%s", TOKEN);
	snprintf(expect[5], sizeof(expect[0]), "--ca");
	snprintf(expect[6], sizeof(expect[0]), "%s/ca.pem", dir);
	snprintf(expect[7], sizeof(expect[0]), "--state");
	snprintf(expect[8], sizeof(expect[0]), "%s/state", dir);
	assert_non_null(text = read_text(path));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		assert_true(n < 9);
		assert_string_equal(line, expect[n]);
		n++;
	}
	assert_int_equal(n, 9);
	free(text);

	/* a clean environment: PATH and HOME, no credential of the tower's */
	snprintf(path, sizeof(path), "%s/env.%d", fx.rec, pid);
	assert_non_null(text = read_text(path));
	assert_non_null(strstr(text, "PATH=/usr/local/sbin:"));
	snprintf(path, sizeof(path), "HOME=%s\n", dir);
	assert_non_null(strstr(text, path));
	assert_null(strstr(text, "cloud-secret"));
	assert_null(strstr(text, "OC_LOCAL_NO_NETNS"));
	free(text);

	assert_non_null(text = read_text(logpath));
	assert_null(strstr(text, "0123456789abcdef"));
	assert_non_null(strstr(text, "oc1-post-1"));
	free(text);

	snprintf(path, sizeof(path), "%s/child.%d", fx.rec, pid);
	child = read_pid(path);
	snprintf(path, sizeof(path), "%s/escaped.%d", fx.rec, pid);
	escaped = read_pid(path);
	assert_true(pid_alive(child));

	destroy_ok(ctx, &node);
	assert_false(pid_alive(pid));
	assert_false(pid_alive(child));           /* the agent's session goes with it */
	assert_false(exists(dir));
	snprintf(path, sizeof(path), "%s/local/%s", fx.state, OC_ID);
	assert_false(exists(path));
	/* on loopback a task that left the agent's session is out of reach;
	 * in a namespace it is not (test_netns) */
	kill_if(escaped, "sleep 1001");

	/* idempotent: again, and from a fresh context (a restarted tower) */
	destroy_ok(ctx, &node);
	provider_local.close(ctx);
	ctx = open_provider(fx.agent);
	destroy_ok(ctx, &node);
	provider_local.close(ctx);
}

/* A restarted tower destroys a node from the handle alone; the node outlived
 * the context (the tower) that made it. */
static void test_destroy_after_restart(void **state)
{
	void *ctx = open_provider(fx.agent);
	struct provider_node node, copy;
	char dir[512], path[PATH_MAX + 64];
	int pid, child;

	create_ok(ctx, "oc1-cluster-1", &node);
	provider_local.close(ctx);
	node_dir(dir, sizeof(dir), "oc1-cluster-1");
	snprintf(path, sizeof(path), "%s/agent.pid", dir);
	pid = read_pid(path);
	snprintf(path, sizeof(path), "%s/argv.%d", fx.rec, pid);
	wait_for_file(path);
	snprintf(path, sizeof(path), "%s/child.%d", fx.rec, pid);
	child = read_pid(path);
	assert_true(pid_alive(pid));

	memset(&copy, 0, sizeof(copy));
	snprintf(copy.handle, sizeof(copy.handle), "%s", node.handle);
	ctx = open_provider(fx.agent);
	destroy_ok(ctx, &copy);
	provider_local.close(ctx);
	assert_false(pid_alive(pid));
	assert_false(pid_alive(child));
	assert_false(exists(dir));
}

/* The agent died and its pid went to another program: destroy must not kill it. */
static void test_destroy_spares_reused_pid(void **state)
{
	void *ctx = open_provider(fx.agent);
	struct provider_node node;
	char dir[512], path[PATH_MAX + 64], text[32];
	int pid, child, status;
	pid_t other;

	create_ok(ctx, "oc1-cluster-2", &node);
	node_dir(dir, sizeof(dir), "oc1-cluster-2");
	snprintf(path, sizeof(path), "%s/agent.pid", dir);
	pid = read_pid(path);
	snprintf(path, sizeof(path), "%s/argv.%d", fx.rec, pid);
	wait_for_file(path);
	snprintf(path, sizeof(path), "%s/child.%d", fx.rec, pid);
	child = read_pid(path);
	kill(pid, SIGKILL);
	kill(child, SIGKILL);
	for (int64_t deadline = util_monotonic_ms() + 10000; pid_alive(pid) || pid_alive(child);) {
		if (util_monotonic_ms() > deadline)
			fail_msg("fake agent %d does not die", pid);
		sleep_ms(20);
	}

	other = fork();
	assert_true(other >= 0);
	if (other == 0) {
		execlp("sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	snprintf(text, sizeof(text), "%d\n", (int)other);
	snprintf(path, sizeof(path), "%s/agent.pid", dir);
	write_text(path, text, 0644);

	destroy_ok(ctx, &node);
	assert_int_equal(waitpid(other, &status, WNOHANG), 0);  /* still running */
	assert_true(pid_alive(other));
	assert_false(exists(dir));
	kill(other, SIGKILL);
	waitpid(other, &status, 0);
	provider_local.close(ctx);
}

/* A create that fails leaves nothing; bad names never reach the file system. */
static void test_create_failure_leaves_nothing(void **state)
{
	void *ctx = open_provider(fx.bad_agent);
	struct provider_node_request req = {
		.overcloud_id = OC_ID, .name = "oc1-cluster-3", .group = "cluster", .join_token = TOKEN,
	};
	static const char *const bad_names[] = {"", "..", "../evil", "a/b", ".hidden", "-x", "a b"};
	struct provider_node node;
	char err[256] = "", path[PATH_MAX];

	assert_int_equal(provider_local.create_node(ctx, &req, &node, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exec"));
	assert_string_equal(node.handle, "");
	snprintf(path, sizeof(path), "%s/local", fx.state);
	assert_false(exists(path));

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		req.name = bad_names[i];
		err[0] = '\0';
		assert_int_equal(provider_local.create_node(ctx, &req, &node, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		req.name = "ok";
		req.overcloud_id = bad_names[i];
		assert_int_equal(provider_local.create_node(ctx, &req, &node, err, sizeof(err)), -1);
		req.overcloud_id = OC_ID;
	}
	req.join_token = "";
	assert_int_equal(provider_local.create_node(ctx, &req, &node, err, sizeof(err)), -1);
	assert_false(exists(path));
	provider_local.close(ctx);
}

/* Handles that are not ours are refused, never removed; an empty one is a no-op. */
static void test_destroy_rejects_bad_handles(void **state)
{
	void *ctx = open_provider(fx.agent);
	static const char *const bad[] = {
		"host:/etc",
		"host:relative/local/" OC_ID "/n1",
		"bogus",
		"host:/tmp/x/local/" OC_ID "/../n1",
		"oc-x;rm-1:/tmp/x/local/" OC_ID "/n1",
		"eth0:/tmp/x/local/" OC_ID "/n1",
		"host:/tmp/x/notlocal/" OC_ID "/n1",
		"host:/tmp/x/local/other-oc/n1",      /* another overcloud's node */
	};
	struct provider_node node;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&node, 0, sizeof(node));
		snprintf(node.handle, sizeof(node.handle), "%s", bad[i]);
		err[0] = '\0';
		assert_int_equal(provider_local.destroy_node(ctx, OC_ID, &node, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "handle"));
	}
	memset(&node, 0, sizeof(node));
	assert_int_equal(provider_local.destroy_node(ctx, OC_ID, &node, err, sizeof(err)), 0);
	/* well-formed but never made: success */
	snprintf(node.handle, sizeof(node.handle), "host:%s/local/%s/never-made", fx.state, OC_ID);
	assert_int_equal(provider_local.destroy_node(ctx, OC_ID, &node, err, sizeof(err)), 0);
	provider_local.close(ctx);
}

/* A create of a node whose earlier create died half-way (the tower was
 * killed) replaces it: the old agent does not linger beside the new one. */
static void test_create_replaces_leftover(void **state)
{
	void *ctx = open_provider(fx.agent);
	struct provider_node node;
	char dir[512], path[PATH_MAX + 64];
	int old, fresh, child;

	create_ok(ctx, "oc1-cluster-4", &node);
	node_dir(dir, sizeof(dir), "oc1-cluster-4");
	snprintf(path, sizeof(path), "%s/agent.pid", dir);
	old = read_pid(path);
	snprintf(path, sizeof(path), "%s/argv.%d", fx.rec, old);
	wait_for_file(path);
	snprintf(path, sizeof(path), "%s/child.%d", fx.rec, old);
	child = read_pid(path);

	create_ok(ctx, "oc1-cluster-4", &node);
	snprintf(path, sizeof(path), "%s/agent.pid", dir);
	fresh = read_pid(path);
	assert_int_not_equal(fresh, old);
	assert_false(pid_alive(old));
	assert_false(pid_alive(child));
	assert_true(pid_alive(fresh));
	snprintf(path, sizeof(path), "%s/argv.%d", fx.rec, fresh);
	wait_for_file(path);
	destroy_ok(ctx, &node);
	assert_false(pid_alive(fresh));
	assert_false(exists(dir));
	provider_local.close(ctx);
}

/* ---- as root: a node in its own namespace ---- */

static bool netns_exists(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	return exists(path);
}

/* Under the provider's lock: every ocv<slot> veth is an allocated slot and
 * back, ocbr0 exists only while a slot is, and no slot belongs to this test. */
static void assert_net_consistent(void)
{
	bool slot_used[256] = {false};
	size_t slots = 0, links = 0;
	char *alloc, *line, *save = NULL;
	struct dirent *de;
	DIR *d;
	int lock;

	lock = open("/run/overcloud/local-net.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(lock >= 0);
	assert_int_equal(flock(lock, LOCK_EX), 0);
	alloc = read_text("/run/overcloud/local-net.alloc");
	for (line = alloc ? strtok_r(alloc, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		int slot = atoi(line);
		char ns[64], path[128];

		if (strstr(line, fx.tmp) != NULL)
			fail_msg("slot of this test left: %s", line);
		/* a line whose namespace is gone is stale: the next create reclaims it */
		if (sscanf(line, "%*d %63s", ns) != 1)
			fail_msg("malformed slot line: %s", line);
		snprintf(path, sizeof(path), "/run/netns/%s", ns);
		if (!exists(path))
			continue;
		if (slot >= 0 && slot < 256)
			slot_used[slot] = true;
		slots++;
	}
	free(alloc);
	assert_non_null(d = opendir("/sys/class/net"));
	while ((de = readdir(d)) != NULL) {
		int slot;
		if (sscanf(de->d_name, "ocv%d", &slot) != 1)
			continue;
		if (slot < 256 && !slot_used[slot])
			fail_msg("veth %s without a slot", de->d_name);
		links++;
	}
	closedir(d);
	assert_int_equal(links, slots);
	if (slots == 0)
		assert_false(exists("/sys/class/net/ocbr0"));
	close(lock);
}

static void append_alloc_line(const char *line)
{
	int lock = open("/run/overcloud/local-net.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int fd;

	assert_true(lock >= 0);
	assert_int_equal(flock(lock, LOCK_EX), 0);
	fd = open("/run/overcloud/local-net.alloc", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);
	close(lock);
}

static void test_netns(void **state)
{
	struct provider_node a, b;
	char dir[512], path[PATH_MAX + 64], want[PATH_MAX + 64], ns_a[64], *text, *colon;
	int pid, child, escaped, ppid, sid;
	void *ctx;

	if (geteuid() != 0) {
		print_message("skipped: not root, no network namespaces\n");
		skip();
	}
	unsetenv("OC_LOCAL_NO_NETNS");
	ctx = open_provider(fx.agent);
	setenv("OC_LOCAL_NO_NETNS", "1", 1);

	create_ok(ctx, "oc1-ns-1", &a);
	fx.ns_nodes[0] = a;
	/* a slot whose namespace someone deleted by hand is reclaimed by the next create */
	append_alloc_line("60000 oc-stale0-60000 /nonexistent/local/oc-stale0/n1\n");
	create_ok(ctx, "oc1-ns-2", &b);
	fx.ns_nodes[1] = b;
	assert_non_null(text = read_text("/run/overcloud/local-net.alloc"));
	assert_null(strstr(text, "oc-stale0"));
	free(text);
	node_dir(dir, sizeof(dir), "oc1-ns-1");
	assert_non_null(colon = strchr(a.handle, ':'));
	snprintf(ns_a, sizeof(ns_a), "%.*s", (int)(colon - a.handle), a.handle);
	assert_string_equal(colon + 1, dir);
	/* oc-<last 6 letters and digits of the overcloud id>-<slot> */
	assert_int_equal(strncmp(ns_a, "oc-3a9c21-", 10), 0);
	assert_true(netns_exists(ns_a));
	assert_true(exists("/sys/class/net/ocbr0"));
	assert_int_equal(strncmp(a.address, "10.213.", 7), 0);
	assert_int_equal(strncmp(b.address, "10.213.", 7), 0);
	assert_string_not_equal(a.address, b.address);

	snprintf(path, sizeof(path), "%s/agent.pid", dir);
	pid = read_pid(path);
	snprintf(path, sizeof(path), "%s/argv.%d", fx.rec, pid);
	wait_for_file(path);
	pid_parent_session(pid, &ppid, &sid);
	assert_int_not_equal(ppid, getpid());
	/* in a namespace the agent dials the bridge address */
	assert_non_null(text = read_text(path));
	assert_non_null(strstr(text, "\n--tower\n10.213.0.1:6126\n"));
	free(text);
	/* its own address, default route via the bridge, its own host name */
	snprintf(path, sizeof(path), "%s/net.%d", fx.rec, pid);
	assert_non_null(text = read_text(path));
	snprintf(want, sizeof(want), "inet %s/16", a.address);
	if (strstr(text, want) == NULL || strstr(text, "default via 10.213.0.1") == NULL)
		fail_msg("namespace network: %s", text);
	free(text);
	snprintf(path, sizeof(path), "%s/hostname.%d", fx.rec, pid);
	assert_non_null(text = read_text(path));
	assert_string_equal(text, "oc1-ns-1\n");
	free(text);

	snprintf(path, sizeof(path), "%s/child.%d", fx.rec, pid);
	child = read_pid(path);
	snprintf(path, sizeof(path), "%s/escaped.%d", fx.rec, pid);
	escaped = read_pid(path);
	assert_true(pid_alive(escaped));

	destroy_ok(ctx, &a);
	assert_false(pid_alive(pid));
	assert_false(pid_alive(child));
	assert_false(pid_alive(escaped));       /* left the session, not the namespace */
	assert_false(netns_exists(ns_a));
	assert_false(exists(dir));
	assert_true(exists("/sys/class/net/ocbr0"));   /* b still uses it */
	destroy_ok(ctx, &a);

	destroy_ok(ctx, &b);
	node_dir(dir, sizeof(dir), "oc1-ns-2");
	assert_false(exists(dir));
	memset(fx.ns_nodes, 0, sizeof(fx.ns_nodes));
	assert_net_consistent();
	provider_local.close(ctx);
}

/* ---- the tool for tests/integration/test_local_provider.sh ---- */

static int tool_main(int argc, char **argv)
{
	struct provider_env env = {0};
	struct provider_node_request req = {0};
	struct provider_node node;
	char err[512] = "", path[PATH_MAX], *ca;
	int64_t port;
	void *ctx;
	int rc;

	if (argc < 6 || util_parse_int(argv[2], 1, 65535, &port) != 0) {
		fprintf(stderr, "usage: test_provider_local tool STATE HOST PORT AGENT "
			"(create OC NAME TOKEN | destroy OC HANDLE)\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/ca.pem", argv[0]);
	if ((ca = util_read_file(path, 1 << 16, NULL)) == NULL) {
		fprintf(stderr, "tool: %s: %s\n", path, strerror(errno));
		return 1;
	}
	env.state_dir = argv[0];
	env.tower_host = argv[1];
	env.tower_port = (uint16_t)port;
	env.ca_pem = ca;
	env.agent_binary = argv[3];
	if ((ctx = provider_local.open(&env, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tool: %s\n", err);
		free(ca);
		return 1;
	}
	memset(&node, 0, sizeof(node));
	if (strcmp(argv[4], "create") == 0 && argc == 8) {
		req.overcloud_id = argv[5];
		req.name = argv[6];
		req.group = "cluster";
		req.join_token = argv[7];
		rc = provider_local.create_node(ctx, &req, &node, err, sizeof(err));
		if (rc == 0)
			printf("%s\t%s\n", node.handle, node.address);
	} else if (strcmp(argv[4], "destroy") == 0 && argc == 7) {
		snprintf(node.handle, sizeof(node.handle), "%s", argv[6]);
		rc = provider_local.destroy_node(ctx, argv[5], &node, err, sizeof(err));
	} else {
		fprintf(stderr, "tool: unknown command\n");
		rc = -1;
	}
	if (rc != 0 && err[0] != '\0')
		fprintf(stderr, "tool: %s\n", err);
	provider_local.close(ctx);
	free(ca);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_open_rejects),
		cmocka_unit_test(test_create_destroy),
		cmocka_unit_test(test_destroy_after_restart),
		cmocka_unit_test(test_destroy_spares_reused_pid),
		cmocka_unit_test(test_create_failure_leaves_nothing),
		cmocka_unit_test(test_destroy_rejects_bad_handles),
		cmocka_unit_test(test_create_replaces_leftover),
		cmocka_unit_test(test_netns),
	};

	log_init("test_provider_local", OC_LOG_DEBUG);
	if (argc >= 2 && strcmp(argv[1], "tool") == 0) {
		log_set_level(OC_LOG_INFO);
		return tool_main(argc - 2, argv + 2);
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
