/* bundle.c — role bundles: deterministic ustar writer, strict reader, agent cache.
 * Owns the tar format and the cache layout; what a role holds is role.c's. */
#include "shared/bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/util.h"

#define BLOCK 512
#define NAME_LEN 100
#define PREFIX_LEN 155
#define PATH_MAX_LEN (PREFIX_LEN + 1 + NAME_LEN)
#define CACHE_MARKER ".complete"

/* Offsets of the ustar header fields we read or write. */
#define H_NAME 0
#define H_MODE 100
#define H_UID 108
#define H_GID 116
#define H_SIZE 124
#define H_MTIME 136
#define H_CHKSUM 148
#define H_TYPE 156
#define H_LINKNAME 157
#define H_MAGIC 257
#define H_VERSION 263
#define H_UNAME 265
#define H_GNAME 297
#define H_DEVMAJOR 329
#define H_DEVMINOR 337
#define H_PREFIX 345

struct pack_entry {
	char *path;          /* relative, no trailing slash */
	char *source;        /* file to read; NULL: <dir>/<path> */
	bool dir;
	bool exec;
	size_t size;
};

struct pack_list {
	struct pack_entry *v;
	size_t n;
	size_t total;        /* archive bytes so far, trailer included */
};

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

static size_t round_block(size_t n)
{
	return (n + BLOCK - 1) / BLOCK * BLOCK;
}

/* A copy of a name fit for a one-line message: control bytes become '?'. */
static const char *shown(const char *name, char *buf, size_t size)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < size; i++)
		buf[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	buf[i] = '\0';
	return buf;
}

/* One rule for writer and reader: a relative path of non-empty components,
 * none "." or "..", no control bytes, short enough for ustar. */
static const char *path_problem(const char *path, size_t len)
{
	const char *p = path, *end = path + len;

	if (len == 0)
		return "empty path";
	if (len > PATH_MAX_LEN)
		return "path too long";
	if (path[0] == '/')
		return "absolute path";
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t clen = slash != NULL ? (size_t)(slash - p) : (size_t)(end - p);

		if (clen == 0)
			return "empty path component";
		if ((clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.'))
			return "\".\" or \"..\" in path";
		for (size_t i = 0; i < clen; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				return "control character in path";
		if (slash == NULL)
			break;
		p = slash + 1;
		if (p == end)
			return "empty path component";
	}
	return NULL;
}

/* ---- writer ---- */

static int entry_cmp(const void *a, const void *b)
{
	const struct pack_entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

static void pack_list_free(struct pack_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].path);
		free(list->v[i].source);
	}
	free(list->v);
	list->v = NULL;
	list->n = 0;
}

static int pack_add(struct pack_list *list, const char *rel, const char *source, bool dir,
		    bool exec, size_t size, char *err, size_t err_size)
{
	const char *why = path_problem(rel, strlen(rel));
	char name[PATH_MAX_LEN + 2];
	struct pack_entry *e;
	size_t add;

	if (why != NULL) {
		set_err(err, err_size, "\"%s\": %s", shown(rel, name, sizeof(name)), why);
		return -1;
	}
	if (list->n >= BUNDLE_MAX_FILES) {
		set_err(err, err_size, "more than %d entries", BUNDLE_MAX_FILES);
		return -1;
	}
	add = BLOCK + round_block(size);
	if (size > BUNDLE_MAX_BYTES || list->total + add > BUNDLE_MAX_BYTES) {
		set_err(err, err_size, "\"%s\": bundle over %d bytes", rel, BUNDLE_MAX_BYTES);
		return -1;
	}
	if (list->n % 16 == 0) {
		e = realloc(list->v, (list->n + 16) * sizeof(*e));
		if (e == NULL)
			goto nomem;
		list->v = e;
	}
	e = &list->v[list->n];
	e->path = strdup(rel);
	e->source = source != NULL ? strdup(source) : NULL;
	if (e->path == NULL || (source != NULL && e->source == NULL)) {
		free(e->path);
		free(e->source);
		goto nomem;
	}
	e->dir = dir;
	e->exec = exec;
	e->size = size;
	list->n++;
	list->total += add;
	return 0;
nomem:
	set_err(err, err_size, "out of memory");
	return -1;
}

/* Collects the tree under the directory fd dfd (rel is its path inside the
 * bundle, "" at the top) without following symlinks; anything but regular
 * files and directories is refused. Takes ownership of dfd. Depth is
 * bounded by the ustar path limit that pack_add checks first. */
static int pack_walk(int dfd, const char *rel, struct pack_list *list, char *err, size_t err_size)
{
	char child[PATH_MAX_LEN + 2], name[PATH_MAX_LEN + 2];
	struct dirent *de;
	DIR *d;

	d = fdopendir(dfd);
	if (d == NULL) {
		set_err(err, err_size, "\"%s\": %s", rel, strerror(errno));
		close(dfd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct stat st;
		int sub;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", de->d_name) >=
		    (int)sizeof(child)) {
			set_err(err, err_size, "\"%s/...\": path too long", shown(rel, name, sizeof(name)));
			goto fail;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			set_err(err, err_size, "\"%s\": %s", shown(child, name, sizeof(name)),
				strerror(errno));
			goto fail;
		}
		if (S_ISDIR(st.st_mode)) {
			if (pack_add(list, child, NULL, true, true, 0, err, err_size) != 0)
				goto fail;
			sub = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				set_err(err, err_size, "\"%s\": %s", shown(child, name, sizeof(name)),
					strerror(errno));
				goto fail;
			}
			if (pack_walk(sub, child, list, err, err_size) != 0)
				goto fail;
		} else if (S_ISREG(st.st_mode)) {
			if (pack_add(list, child, NULL, false, (st.st_mode & S_IXUSR) != 0,
				     (size_t)st.st_size, err, err_size) != 0)
				goto fail;
		} else {
			set_err(err, err_size, "\"%s\": %s not allowed in a bundle",
				shown(child, name, sizeof(name)),
				S_ISLNK(st.st_mode) ? "symlink" : "special file");
			goto fail;
		}
	}
	if (errno != 0) {
		set_err(err, err_size, "\"%s\": %s", rel, strerror(errno));
		goto fail;
	}
	closedir(d);
	return 0;
fail:
	closedir(d);
	return -1;
}

/* Adds the files from outside the directory, at the top of the bundle. */
static int pack_extras(struct pack_list *list, const struct bundle_extra *extra, size_t count,
		       char *err, size_t err_size)
{
	char name[PATH_MAX_LEN + 2];

	for (size_t i = 0; i < count; i++) {
		struct stat st;

		if (strchr(extra[i].name, '/') != NULL) {
			set_err(err, err_size, "\"%s\": an added file goes at the top, not in a directory",
				shown(extra[i].name, name, sizeof(name)));
			return -1;
		}
		if (lstat(extra[i].source, &st) != 0) {
			set_err(err, err_size, "%s: %s", extra[i].source, strerror(errno));
			return -1;
		}
		if (!S_ISREG(st.st_mode)) {
			set_err(err, err_size, "%s: not a regular file", extra[i].source);
			return -1;
		}
		if (pack_add(list, extra[i].name, extra[i].source, false, (st.st_mode & S_IXUSR) != 0,
			     (size_t)st.st_size, err, err_size) != 0)
			return -1;
	}
	return 0;
}

/* Sorted entries: a name twice can only be an added file meeting one of the
 * directory's or another added file, and would not unpack. */
static int check_unique(const struct pack_list *list, char *err, size_t err_size)
{
	char name[PATH_MAX_LEN + 2];

	for (size_t i = 1; i < list->n; i++) {
		const struct pack_entry *a = &list->v[i - 1], *b = &list->v[i];

		if (strcmp(a->path, b->path) == 0) {
			set_err(err, err_size, "\"%s\": %s", shown(b->path, name, sizeof(name)),
				a->source != NULL && b->source != NULL ? "added twice"
								       : "added but already in the directory");
			return -1;
		}
	}
	return 0;
}

static void put_octal(uint8_t *field, size_t width, uint64_t value)
{
	/* width - 1 digits and a NUL, as POSIX ustar writers do. */
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "%0*llo", (int)(width - 1), (unsigned long long)value);
	memcpy(field, tmp, width - 1);
	field[width - 1] = '\0';
}

static unsigned int header_sum(const uint8_t *h)
{
	unsigned int sum = 0;

	for (size_t i = 0; i < BLOCK; i++)
		sum += (i >= H_CHKSUM && i < H_CHKSUM + 8) ? ' ' : h[i];
	return sum;
}

/* Splits "path" (with a trailing '/' for directories) into ustar name and
 * prefix. Returns 0, or -1 when no split fits. */
static int put_name(uint8_t *h, const char *name)
{
	size_t len = strlen(name);
	size_t p;

	if (len <= NAME_LEN) {
		memcpy(h + H_NAME, name, len);
		return 0;
	}
	for (p = len - 1 < PREFIX_LEN ? len - 1 : PREFIX_LEN; p > 0; p--) {
		if (name[p] == '/' && len - p - 1 <= NAME_LEN && len - p - 1 > 0) {
			memcpy(h + H_PREFIX, name, p);
			memcpy(h + H_NAME, name + p + 1, len - p - 1);
			return 0;
		}
	}
	return -1;
}

static int read_exact(const char *path, uint8_t *buf, size_t size)
{
	struct stat st;
	size_t got = 0;
	uint8_t extra;
	ssize_t n;
	int fd, saved;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size != size) {
		errno = EAGAIN;
		goto fail;
	}
	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EAGAIN;
			goto fail;
		}
		got += (size_t)n;
	}
	while ((n = read(fd, &extra, 1)) < 0 && errno == EINTR)
		;
	if (n != 0) {
		if (n > 0)
			errno = EAGAIN;
		goto fail;
	}
	close(fd);
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int bundle_pack_dir(const char *dir, uint8_t **out, size_t *out_len, char *err, size_t err_size)
{
	return bundle_pack(dir, NULL, 0, out, out_len, err, err_size);
}

int bundle_pack(const char *dir, const struct bundle_extra *extra, size_t extra_count,
		uint8_t **out, size_t *out_len, char *err, size_t err_size)
{
	struct pack_list list = {.total = 2 * BLOCK};
	uint8_t *buf = NULL, *h;
	size_t off = 0;
	int top;

	*out = NULL;
	*out_len = 0;
	top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0) {
		set_err(err, err_size, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (pack_walk(top, "", &list, err, err_size) != 0 ||
	    pack_extras(&list, extra, extra_count, err, err_size) != 0)
		goto fail;
	/* An empty directory has no list at all (qsort wants a non-NULL base). */
	if (list.n > 1)
		qsort(list.v, list.n, sizeof(*list.v), entry_cmp);
	if (check_unique(&list, err, err_size) != 0)
		goto fail;
	/* Sizes were checked while walking, so this is the whole archive. */
	buf = calloc(1, list.total);
	if (buf == NULL) {
		set_err(err, err_size, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < list.n; i++) {
		const struct pack_entry *e = &list.v[i];
		char name[PATH_MAX_LEN + 2];

		h = buf + off;
		snprintf(name, sizeof(name), "%s%s", e->path, e->dir ? "/" : "");
		if (put_name(h, name) != 0) {
			set_err(err, err_size, "\"%s\": path does not fit a ustar header", e->path);
			goto fail;
		}
		put_octal(h + H_MODE, 8, e->dir || e->exec ? 0755 : 0644);
		put_octal(h + H_UID, 8, 0);
		put_octal(h + H_GID, 8, 0);
		put_octal(h + H_SIZE, 12, e->size);
		put_octal(h + H_MTIME, 12, 0);
		h[H_TYPE] = e->dir ? '5' : '0';
		memcpy(h + H_MAGIC, "ustar", 6);
		memcpy(h + H_VERSION, "00", 2);
		put_octal(h + H_DEVMAJOR, 8, 0);
		put_octal(h + H_DEVMINOR, 8, 0);
		snprintf((char *)h + H_CHKSUM, 8, "%06o", header_sum(h));
		h[H_CHKSUM + 7] = ' ';
		off += BLOCK;
		if (!e->dir && e->size > 0) {
			const char *from = e->source;
			char path[PATH_MAX];

			if (from == NULL) {
				if (snprintf(path, sizeof(path), "%s/%s", dir, e->path) >=
				    (int)sizeof(path)) {
					set_err(err, err_size, "\"%s\": path too long", e->path);
					goto fail;
				}
				from = path;
			}
			if (read_exact(from, buf + off, e->size) != 0) {
				set_err(err, err_size, "\"%s\": %s", e->path,
					errno == EAGAIN ? "changed while packing" : strerror(errno));
				goto fail;
			}
			off += round_block(e->size);
		}
	}
	/* Two zero blocks end the archive; calloc left them zero. */
	*out = buf;
	*out_len = list.total;
	pack_list_free(&list);
	return 0;
fail:
	free(buf);
	pack_list_free(&list);
	return -1;
}

/* ---- reader ---- */

struct unpack {
	int root;            /* fd of dest */
	char **names;
	size_t count;
	char *err;
	size_t err_size;
};

/* A numeric field: optional leading spaces, octal digits, then only NUL or
 * space to the end. An empty field is allowed only when may_be_empty. */
static int get_octal(const uint8_t *field, size_t width, bool may_be_empty, uint64_t *out)
{
	size_t i = 0, digits = 0;
	uint64_t v = 0;

	while (i < width && field[i] == ' ')
		i++;
	for (; i < width && field[i] >= '0' && field[i] <= '7'; i++, digits++) {
		if (v > (UINT64_MAX >> 3))
			return -1;
		v = v << 3 | (uint64_t)(field[i] - '0');
	}
	for (; i < width; i++)
		if (field[i] != '\0' && field[i] != ' ')
			return -1;
	if (digits == 0 && !may_be_empty)
		return -1;
	*out = v;
	return 0;
}

/* A string field: bytes up to the first NUL (or the whole width), and only
 * NULs after it. Returns the length, or -1. */
static int get_string(const uint8_t *field, size_t width)
{
	const uint8_t *nul = memchr(field, '\0', width);
	size_t len = nul != NULL ? (size_t)(nul - field) : width;

	for (size_t i = len; i < width; i++)
		if (field[i] != '\0')
			return -1;
	return (int)len;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static const char *type_problem(uint8_t type)
{
	switch (type) {
	case '1':
		return "hard link";
	case '2':
		return "symlink";
	case '3':
		return "character device";
	case '4':
		return "block device";
	case '6':
		return "fifo";
	case 'x':
	case 'g':
		return "pax extended header";
	case 'L':
	case 'K':
		return "gnu long name";
	default:
		return "unknown entry type";
	}
}

/* Checks one header and returns the entry's path (trailing '/' of a directory
 * removed), whether it is a directory and its size. */
static int parse_header(const uint8_t *h, char path[PATH_MAX_LEN + 2], bool *dir, mode_t *perm,
			uint64_t *size, char *err, size_t err_size)
{
	char name[PATH_MAX_LEN + 2];
	uint64_t sum, mode, ignored;
	int nlen, plen, llen;
	size_t len = 0;
	const char *why;

	if (get_octal(h + H_CHKSUM, 8, false, &sum) != 0 || sum != header_sum(h)) {
		set_err(err, err_size, "bad header checksum");
		return -1;
	}
	if (memcmp(h + H_MAGIC, "ustar", 6) != 0 || memcmp(h + H_VERSION, "00", 2) != 0) {
		set_err(err, err_size, "not a posix ustar header");
		return -1;
	}
	nlen = get_string(h + H_NAME, NAME_LEN);
	plen = get_string(h + H_PREFIX, PREFIX_LEN);
	llen = get_string(h + H_LINKNAME, 100);
	if (nlen < 0 || plen < 0 || llen < 0 || get_string(h + H_UNAME, 32) < 0 ||
	    get_string(h + H_GNAME, 32) < 0) {
		set_err(err, err_size, "bytes after the NUL of a name field");
		return -1;
	}
	if (plen > 0) {
		memcpy(path, h + H_PREFIX, (size_t)plen);
		path[plen] = '/';
		len = (size_t)plen + 1;
	}
	memcpy(path + len, h + H_NAME, (size_t)nlen);
	len += (size_t)nlen;
	path[len] = '\0';
	shown(path, name, sizeof(name));
	if (nlen == 0) {
		set_err(err, err_size, "entry with an empty name");
		return -1;
	}
	if (h[H_TYPE] == '5') {
		*dir = true;
		if (path[len - 1] == '/') {
			path[--len] = '\0';
			shown(path, name, sizeof(name));
		}
	} else if (h[H_TYPE] == '0' || h[H_TYPE] == '\0') {
		*dir = false;
	} else {
		set_err(err, err_size, "\"%s\": %s not allowed", name, type_problem(h[H_TYPE]));
		return -1;
	}
	why = path_problem(path, len);
	if (why != NULL) {
		set_err(err, err_size, "\"%s\": %s", name, why);
		return -1;
	}
	if (llen != 0) {
		set_err(err, err_size, "\"%s\": link name on a %s", name, *dir ? "directory" : "file");
		return -1;
	}
	if (get_octal(h + H_MODE, 8, false, &mode) != 0 || mode > 07777 ||
	    get_octal(h + H_SIZE, 12, false, size) != 0 ||
	    get_octal(h + H_UID, 8, true, &ignored) != 0 ||
	    get_octal(h + H_GID, 8, true, &ignored) != 0 ||
	    get_octal(h + H_MTIME, 12, true, &ignored) != 0 ||
	    get_octal(h + H_DEVMAJOR, 8, true, &ignored) != 0 ||
	    get_octal(h + H_DEVMINOR, 8, true, &ignored) != 0) {
		set_err(err, err_size, "\"%s\": bad octal field", name);
		return -1;
	}
	if (*dir && *size != 0) {
		set_err(err, err_size, "\"%s\": directory with a size", name);
		return -1;
	}
	if (*size > BUNDLE_MAX_BYTES) {
		set_err(err, err_size, "\"%s\": entry over %d bytes", name, BUNDLE_MAX_BYTES);
		return -1;
	}
	/* Keep only whether it is executable: 0755 or 0644. */
	*perm = *dir || (mode & 0111) != 0 ? 0755 : 0644;
	return 0;
}

/* Opens the directory holding path's last component, walking from dest one
 * component at a time without following symlinks. *last points into path. */
static int open_parent(struct unpack *u, char *path, const char **last)
{
	char *p = path, *slash;
	int fd = dup(u->root), next;

	if (fd < 0)
		return -1;
	while ((slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		*slash = '/';
		close(fd);
		if (next < 0)
			return -1;
		fd = next;
		p = slash + 1;
	}
	*last = p;
	return fd;
}

static int unpack_entry(struct unpack *u, char *path, bool dir, mode_t mode, const uint8_t *data,
			size_t size)
{
	const char *last;
	char **names;
	int pfd, fd = -1;

	for (size_t i = 0; i < u->count; i++) {
		if (strcmp(u->names[i], path) == 0) {
			set_err(u->err, u->err_size, "\"%s\": duplicate entry", path);
			return -1;
		}
	}
	names = realloc(u->names, (u->count + 1) * sizeof(*names));
	if (names == NULL)
		goto nomem;
	u->names = names;
	u->names[u->count] = strdup(path);
	if (u->names[u->count] == NULL)
		goto nomem;
	u->count++;

	pfd = open_parent(u, path, &last);
	if (pfd < 0) {
		set_err(u->err, u->err_size, "\"%s\": parent directory: %s", path,
			errno == ENOENT ? "not in the bundle before it" : strerror(errno));
		return -1;
	}
	if (dir) {
		if (mkdirat(pfd, last, 0700) != 0)
			goto fail;
		fd = openat(pfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	} else {
		fd = openat(pfd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		goto fail;
	if ((!dir && util_write_all(fd, data, size) != 0) || fchmod(fd, mode) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	close(pfd);
	return 0;
fail:
	set_err(u->err, u->err_size, "\"%s\": %s", path,
		errno == EEXIST ? "duplicate entry" : strerror(errno));
	if (fd >= 0)
		close(fd);
	close(pfd);
	return -1;
nomem:
	set_err(u->err, u->err_size, "out of memory");
	return -1;
}

/* Opens dest for unpacking: creates it 0700, or accepts an existing empty
 * directory (never a symlink). *created tells the caller it may remove it. */
static int open_dest(const char *dest, bool *created, char *err, size_t err_size)
{
	struct dirent *de;
	DIR *d;
	int fd, dfd;

	*created = false;
	if (mkdir(dest, 0700) == 0)
		*created = true;
	else if (errno != EEXIST) {
		set_err(err, err_size, "%s: %s", dest, strerror(errno));
		return -1;
	}
	fd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		set_err(err, err_size, "%s: %s", dest, strerror(errno));
		return -1;
	}
	if (*created)
		return fd;
	dfd = dup(fd);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		set_err(err, err_size, "%s: %s", dest, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			set_err(err, err_size, "%s: destination is not empty", dest);
			closedir(d);
			close(fd);
			return -1;
		}
	}
	closedir(d);
	/* It is ours from here on: a refusal removes it like one we made. */
	*created = true;
	return fd;
}

int bundle_unpack(const uint8_t *data, size_t len, const char *dest, char *err, size_t err_size)
{
	struct unpack u = {.root = -1, .err = err, .err_size = err_size};
	bool created = false;
	size_t off = 0;

	/* Everything that needs no file system first: size and block shape. */
	if (len > BUNDLE_MAX_BYTES) {
		set_err(err, err_size, "bundle of %zu bytes over %d", len, BUNDLE_MAX_BYTES);
		return -1;
	}
	if (len % BLOCK != 0 || len < 2 * BLOCK) {
		set_err(err, err_size, "truncated bundle (%zu bytes)", len);
		return -1;
	}
	u.root = open_dest(dest, &created, err, err_size);
	if (u.root < 0)
		return -1;
	for (;;) {
		const uint8_t *h = data + off;
		char path[PATH_MAX_LEN + 2];
		uint64_t size;
		mode_t perm;
		bool dir;

		if (len - off < BLOCK) {
			set_err(err, err_size, "truncated bundle: no end marker");
			goto fail;
		}
		if (all_zero(h, BLOCK)) {
			if (len - off < 2 * BLOCK || !all_zero(h + BLOCK, BLOCK)) {
				set_err(err, err_size, "truncated bundle: one zero block");
				goto fail;
			}
			if (!all_zero(h + 2 * BLOCK, len - off - 2 * BLOCK)) {
				set_err(err, err_size, "data after the end of the bundle");
				goto fail;
			}
			break;
		}
		if (u.count >= BUNDLE_MAX_FILES) {
			set_err(err, err_size, "more than %d entries", BUNDLE_MAX_FILES);
			goto fail;
		}
		if (parse_header(h, path, &dir, &perm, &size, err, err_size) != 0)
			goto fail;
		off += BLOCK;
		if (size > len - off || round_block(size) > len - off) {
			set_err(err, err_size, "\"%s\": truncated bundle", path);
			goto fail;
		}
		if (unpack_entry(&u, path, dir, perm, data + off, size) != 0)
			goto fail;
		off += round_block(size);
	}
	for (size_t i = 0; i < u.count; i++)
		free(u.names[i]);
	free(u.names);
	close(u.root);
	return 0;
fail:
	for (size_t i = 0; i < u.count; i++)
		free(u.names[i]);
	free(u.names);
	close(u.root);
	if (created)
		util_remove_tree(dest);
	return -1;
}

/* ---- hash and cache ---- */

static bool hash_valid(const char *hash_hex)
{
	size_t i;

	if (hash_hex == NULL)
		return false;
	for (i = 0; i < 64; i++)
		if (!((hash_hex[i] >= '0' && hash_hex[i] <= '9') ||
		      (hash_hex[i] >= 'a' && hash_hex[i] <= 'f')))
			return false;
	return hash_hex[64] == '\0';
}

int bundle_verify(const uint8_t *data, size_t len, const char *hash_hex)
{
	char got[65];

	if (!hash_valid(hash_hex))
		return -1;
	util_sha256_hex(data, len, got);
	return util_consttime_cmp(got, hash_hex, 64) == 0 ? 0 : -1;
}

char *bundle_cache_lookup(const char *cache_dir, const char *hash_hex)
{
	char path[PATH_MAX], marker[PATH_MAX];
	struct stat st;

	if (!hash_valid(hash_hex))
		return NULL;
	if (snprintf(path, sizeof(path), "%s/%s", cache_dir, hash_hex) >= (int)sizeof(path) ||
	    snprintf(marker, sizeof(marker), "%s/" CACHE_MARKER, path) >= (int)sizeof(marker))
		return NULL;
	if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return NULL;
	if (lstat(marker, &st) != 0 || !S_ISREG(st.st_mode))
		return NULL;
	return strdup(path);
}

/* Not synced, nor are the files: a cache entry only has to outlive the
 * agent process, and the agent empties the cache when it starts (the tower
 * sends the bundle with every task), so a power loss cannot leave a torn
 * entry that is trusted. The three syncs it had cost ~10 ms on a node's
 * first task of each role. */
static int write_marker(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/" CACHE_MARKER, dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

char *bundle_cache_store(const char *cache_dir, const char *hash_hex, const uint8_t *data,
			 size_t len, char *err, size_t err_size)
{
	char tmp[PATH_MAX], final[PATH_MAX];
	char *found;

	if (!hash_valid(hash_hex)) {
		set_err(err, err_size, "bad bundle hash");
		return NULL;
	}
	if (bundle_verify(data, len, hash_hex) != 0) {
		set_err(err, err_size, "bundle %.12s: sha256 does not match", hash_hex);
		return NULL;
	}
	found = bundle_cache_lookup(cache_dir, hash_hex);
	if (found != NULL)
		return found;
	if (util_mkdir_p(cache_dir, 0700) != 0) {
		set_err(err, err_size, "%s: %s", cache_dir, strerror(errno));
		return NULL;
	}
	if (snprintf(final, sizeof(final), "%s/%s", cache_dir, hash_hex) >= (int)sizeof(final) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", final, (int)getpid()) >= (int)sizeof(tmp)) {
		set_err(err, err_size, "%s: path too long", cache_dir);
		return NULL;
	}
	/* A leftover of an earlier run with our pid is garbage. */
	util_remove_tree(tmp);
	if (bundle_unpack(data, len, tmp, err, err_size) != 0)
		return NULL;
	if (write_marker(tmp) != 0) {
		set_err(err, err_size, "%s: marker: %s", tmp,
			errno == EEXIST ? "bundle holds " CACHE_MARKER : strerror(errno));
		goto fail;
	}
	if (rename(tmp, final) != 0) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			set_err(err, err_size, "%s: %s", final, strerror(errno));
			goto fail;
		}
		/* Someone else stored it meanwhile, or a dead run left it half. */
		found = bundle_cache_lookup(cache_dir, hash_hex);
		if (found != NULL) {
			util_remove_tree(tmp);
			return found;
		}
		if (util_remove_tree(final) != 0 || rename(tmp, final) != 0) {
			set_err(err, err_size, "%s: %s", final, strerror(errno));
			goto fail;
		}
	}
	found = strdup(final);
	if (found == NULL)
		set_err(err, err_size, "out of memory");
	return found;
fail:
	util_remove_tree(tmp);
	return NULL;
}
