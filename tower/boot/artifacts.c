/* artifacts.c — finds the agent binary for each architecture and keeps its
 * sha256 per file (path, inode, size, mtime); serving it is api.c's job. */
#include "tower/boot/artifacts.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "shared/util.h"

static const char *const known_arches[] = {"x86_64", "aarch64", "armv7"};

/* What the hash was computed from: a file replaced or rewritten changes one
 * of these, and is hashed again. */
struct artifact_cache {
	bool valid;
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char sha256_hex[65];
};

struct artifacts {
	char dir[PATH_MAX];       /* --artifacts; empty when not given */
	char exe_dir[PATH_MAX];   /* where the tower binary is; empty when unknown */
	pthread_mutex_t lock;     /* the cache: renders may come from provider threads */
	struct artifact_cache cache[OC_ARRAY_LEN(known_arches)];
};

static int arch_index(const char *arch)
{
	for (size_t i = 0; arch != NULL && i < OC_ARRAY_LEN(known_arches); i++)
		if (strcmp(arch, known_arches[i]) == 0)
			return (int)i;
	return -1;
}

bool artifacts_arch_known(const char *arch)
{
	return arch_index(arch) >= 0;
}

const char *artifacts_host_arch(void)
{
#if defined(__x86_64__)
	return "x86_64";
#elif defined(__aarch64__)
	return "aarch64";
#elif defined(__arm__)
	return "armv7";
#else
	return NULL;
#endif
}

struct artifacts *artifacts_new(const char *dir)
{
	struct artifacts *a = calloc(1, sizeof(*a));
	ssize_t n;
	char *slash;

	if (a == NULL)
		return NULL;
	if (dir != NULL)
		snprintf(a->dir, sizeof(a->dir), "%s", dir);
	n = readlink("/proc/self/exe", a->exe_dir, sizeof(a->exe_dir) - 1);
	if (n > 0) {
		a->exe_dir[n] = '\0';
		slash = strrchr(a->exe_dir, '/');
		if (slash != NULL)
			*slash = '\0';
		else
			a->exe_dir[0] = '\0';
	} else {
		a->exe_dir[0] = '\0';
	}
	pthread_mutex_init(&a->lock, NULL);
	return a;
}

void artifacts_free(struct artifacts *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* The first candidate that is a regular file, into path. */
static int find_agent(const struct artifacts *a, const char *arch, char path[PATH_MAX])
{
	char candidates[5][PATH_MAX];
	size_t n = 0;
	struct stat st;

	if (a->dir[0] != '\0')
		snprintf(candidates[n++], PATH_MAX, "%s/overcloud-agent-%s", a->dir, arch);
	if (a->exe_dir[0] != '\0')
		snprintf(candidates[n++], PATH_MAX, "%s/../agents/overcloud-agent-%s", a->exe_dir, arch);
#ifdef OC_SOURCE_DIR
	/* a tower built out of tree: what `make agents` left in the source tree
	 * it was configured from (an installed /usr/bin/tower skips this) */
	if (strncmp(a->exe_dir, "/usr/", 5) != 0)
		snprintf(candidates[n++], PATH_MAX, "%s/build/agents/overcloud-agent-%s",
			 OC_SOURCE_DIR, arch);
#endif
	snprintf(candidates[n++], PATH_MAX, "/usr/lib/overcloud/agents/overcloud-agent-%s", arch);
	/* The agent built next to this tower runs on this machine's arch. */
	if (a->exe_dir[0] != '\0' && artifacts_host_arch() != NULL &&
	    strcmp(arch, artifacts_host_arch()) == 0)
		snprintf(candidates[n++], PATH_MAX, "%s/overcloud-agent", a->exe_dir);
	for (size_t i = 0; i < n; i++) {
		if (stat(candidates[i], &st) == 0 && S_ISREG(st.st_mode)) {
			memcpy(path, candidates[i], PATH_MAX);
			return 0;
		}
	}
	return -1;
}

static bool cache_matches(const struct artifact_cache *c, const char *path, const struct stat *st)
{
	return c->valid && strcmp(c->path, path) == 0 && c->dev == st->st_dev &&
	       c->ino == st->st_ino && c->size == st->st_size &&
	       c->mtime.tv_sec == st->st_mtim.tv_sec && c->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void cache_store(struct artifact_cache *c, const char *path, const struct stat *st,
			const char *hex)
{
	c->valid = true;
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->dev = st->st_dev;
	c->ino = st->st_ino;
	c->size = st->st_size;
	c->mtime = st->st_mtim;
	memcpy(c->sha256_hex, hex, 65);
}

/* Opens the agent for arch; fills path and st. Returns the fd or -1 with err. */
static int open_agent(struct artifacts *a, const char *arch, char path[PATH_MAX],
		      struct stat *st, char *err, size_t err_size)
{
	int fd;

	if (!artifacts_arch_known(arch)) {
		snprintf(err, err_size, "unknown architecture \"%.32s\" (known: x86_64, aarch64, armv7)",
			 arch ? arch : "");
		errno = EINVAL;
		return -1;
	}
	if (find_agent(a, arch, path) != 0) {
		snprintf(err, err_size, "no agent binary for %s: build it (make agents) or put "
			 "overcloud-agent-%s in the dir of tower serve --artifacts", arch, arch);
		errno = ENOENT;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, st) != 0) {
		int e = errno;
		snprintf(err, err_size, "%s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	if ((uint64_t)st->st_size > ARTIFACTS_MAX_BYTES) {
		snprintf(err, err_size, "%s: %lld bytes, over the %u byte limit", path,
			 (long long)st->st_size, ARTIFACTS_MAX_BYTES);
		close(fd);
		errno = EFBIG;
		return -1;
	}
	return fd;
}

static int hash_fd(int fd, char hex[65])
{
	mbedtls_sha256_context ctx;
	unsigned char buf[65536], digest[32];
	ssize_t n;
	int rc = 0;

	mbedtls_sha256_init(&ctx);
	mbedtls_sha256_starts_ret(&ctx, 0);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -1;
			break;
		}
		mbedtls_sha256_update_ret(&ctx, buf, (size_t)n);
	}
	mbedtls_sha256_finish_ret(&ctx, digest);
	mbedtls_sha256_free(&ctx);
	util_hex(digest, sizeof(digest), hex);
	return rc;
}

int artifacts_agent_sha256(struct artifacts *a, const char *arch, char path[PATH_MAX],
			   char sha256_hex[65], char *err, size_t err_size)
{
	struct artifact_cache *c;
	struct stat st;
	int fd = open_agent(a, arch, path, &st, err, err_size), rc = 0;

	if (fd < 0)
		return -1;
	c = &a->cache[arch_index(arch)];
	pthread_mutex_lock(&a->lock);
	if (cache_matches(c, path, &st)) {
		memcpy(sha256_hex, c->sha256_hex, 65);
	} else if (hash_fd(fd, sha256_hex) == 0) {
		cache_store(c, path, &st, sha256_hex);
	} else {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		errno = EIO;
		rc = -1;
	}
	pthread_mutex_unlock(&a->lock);
	close(fd);
	return rc;
}

unsigned char *artifacts_agent_read(struct artifacts *a, const char *arch, size_t *len,
				    char sha256_hex[65], char *err, size_t err_size)
{
	char path[PATH_MAX];
	struct artifact_cache *c;
	struct stat st;
	unsigned char *data;
	size_t got = 0;
	ssize_t n;
	int fd = open_agent(a, arch, path, &st, err, err_size);

	if (fd < 0)
		return NULL;
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL) {
		snprintf(err, err_size, "out of memory for %s", path);
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		snprintf(err, err_size, "%s: changed or unreadable while reading", path);
		free(data);
		errno = EIO;
		return NULL;
	}
	c = &a->cache[arch_index(arch)];
	pthread_mutex_lock(&a->lock);
	if (cache_matches(c, path, &st)) {
		memcpy(sha256_hex, c->sha256_hex, 65);
	} else {
		util_sha256_hex(data, got, sha256_hex);
		cache_store(c, path, &st, sha256_hex);
	}
	pthread_mutex_unlock(&a->lock);
	*len = got;
	return data;
}
