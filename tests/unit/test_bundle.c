/* test_bundle.c — the bundle contract: pack/unpack round trip, determinism,
 * hash checks, one test per refusal of hostile tar bytes, and the cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "shared/bundle.h"
#include "shared/util.h"

/* Every path here is short; a cut one is a broken test. */
#define PATHF(buf, ...) assert_true(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

struct fixture {
	char dir[64];
	char src[128];
	char dest[128];
	char cache[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_bundle.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	PATHF(f->src, "%s/src", f->dir);
	PATHF(f->dest, "%s/dest", f->dir);
	PATHF(f->cache, "%s/cache", f->dir);
	assert_int_equal(mkdir(f->src, 0755), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(util_remove_tree(f->dir), 0);
	free(f);
	return 0;
}

static void put_file(const char *dir, const char *rel, const char *content, mode_t mode)
{
	char path[PATH_MAX];
	int fd;

	PATHF(path, "%s/%s", dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void put_dir(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	PATHF(path, "%s/%s", dir, rel);
	assert_int_equal(mkdir(path, 0700), 0);
}

static char big_content[3000];

static void make_tree(const char *dir)
{
	if (big_content[0] == '\0') {
		for (size_t i = 0; i < sizeof(big_content) - 1; i++)
			big_content[i] = (char)('a' + i % 26);
	}
	put_file(dir, "apply", "#!/bin/sh\necho apply\n", 0755);
	put_file(dir, "role.yaml", "name: x\n", 0644);
	put_file(dir, "empty", "", 0600);
	put_dir(dir, "lib");
	put_file(dir, "lib/common.sh", "f() { :; }\n", 0640);
	put_file(dir, "lib/big", big_content, 0700);
	put_dir(dir, "a");
	put_dir(dir, "a/b");
	put_file(dir, "a/b/deep", "deep\n", 0644);
}

static void expect_file(const char *dir, const char *rel, const char *content, mode_t mode)
{
	char path[PATH_MAX];
	struct stat st;
	size_t len;
	char *got;

	PATHF(path, "%s/%s", dir, rel);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
	got = util_read_file(path, 1 << 20, &len);
	assert_non_null(got);
	assert_int_equal(len, strlen(content));
	assert_memory_equal(got, content, len);
	free(got);
}

static void expect_dir(const char *dir, const char *rel, mode_t mode)
{
	char path[PATH_MAX];
	struct stat st;

	PATHF(path, "%s/%s", dir, rel);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
}

static size_t count_entries(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void pack_ok(const char *dir, uint8_t **out, size_t *len)
{
	char err[256] = "";

	if (bundle_pack_dir(dir, out, len, err, sizeof(err)) != 0)
		fail_msg("bundle_pack_dir: %s", err);
}

/* An empty role dir packs to just the end-of-archive blocks and back. */
static void test_pack_empty_dir(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	uint8_t *tar;
	size_t len;

	pack_ok(f->src, &tar, &len);
	assert_int_equal(len % 512, 0);
	if (bundle_unpack(tar, len, f->dest, err, sizeof(err)) != 0)
		fail_msg("bundle_unpack: %s", err);
	free(tar);
	expect_dir(f->dest, ".", 0700);
}

static void test_pack_unpack_roundtrip(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	uint8_t *tar;
	size_t len;

	make_tree(f->src);
	pack_ok(f->src, &tar, &len);
	assert_int_equal(len % 512, 0);
	if (bundle_unpack(tar, len, f->dest, err, sizeof(err)) != 0)
		fail_msg("bundle_unpack: %s", err);
	free(tar);
	expect_dir(f->dest, ".", 0700);
	expect_file(f->dest, "apply", "#!/bin/sh\necho apply\n", 0755);
	expect_file(f->dest, "role.yaml", "name: x\n", 0644);
	expect_file(f->dest, "empty", "", 0644);
	expect_dir(f->dest, "lib", 0755);
	expect_file(f->dest, "lib/common.sh", "f() { :; }\n", 0644);
	expect_file(f->dest, "lib/big", big_content, 0755);
	expect_dir(f->dest, "a", 0755);
	expect_dir(f->dest, "a/b", 0755);
	expect_file(f->dest, "a/b/deep", "deep\n", 0644);
	assert_int_equal(count_entries(f->dest), 5);
}

/* Paths longer than the 100-byte name field go through the prefix field. */
static void test_long_path_roundtrip(void **state)
{
	struct fixture *f = *state;
	char rel[PATH_MAX], err[256] = "";
	uint8_t *tar;
	size_t len;

	strcpy(rel, "");
	for (int i = 0; i < 3; i++) {
		strcat(rel, i ? "/" : "");
		strcat(rel, "dddddddddddddddddddddddddddddddddddddddddddddd");
		put_dir(f->src, rel);
	}
	strcat(rel, "/ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
	put_file(f->src, rel, "long\n", 0644);
	assert_true(strlen(rel) > 100);
	pack_ok(f->src, &tar, &len);
	if (bundle_unpack(tar, len, f->dest, err, sizeof(err)) != 0)
		fail_msg("bundle_unpack: %s", err);
	free(tar);
	expect_file(f->dest, rel, "long\n", 0644);
}

static void test_pack_deterministic(void **state)
{
	struct fixture *f = *state;
	struct timeval times[2] = {{.tv_sec = 1000000}, {.tv_sec = 2000000}};
	char other[PATH_MAX], path[PATH_MAX];
	uint8_t *a, *b, *c;
	size_t alen, blen, clen;

	make_tree(f->src);
	pack_ok(f->src, &a, &alen);
	pack_ok(f->src, &b, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(b);

	/* New mtimes and a different exec mode with the same meaning. */
	PATHF(path, "%s/apply", f->src);
	assert_int_equal(utimes(path, times), 0);
	assert_int_equal(chmod(path, 0700), 0);
	PATHF(path, "%s/lib", f->src);
	assert_int_equal(utimes(path, times), 0);
	pack_ok(f->src, &b, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(b);

	/* The same tree made in another order gives the same bytes. */
	PATHF(other, "%s/other", f->dir);
	assert_int_equal(mkdir(other, 0700), 0);
	put_dir(other, "a");
	put_dir(other, "a/b");
	put_file(other, "a/b/deep", "deep\n", 0600);
	put_dir(other, "lib");
	put_file(other, "lib/big", big_content, 0755);
	put_file(other, "lib/common.sh", "f() { :; }\n", 0644);
	put_file(other, "empty", "", 0644);
	put_file(other, "role.yaml", "name: x\n", 0644);
	put_file(other, "apply", "#!/bin/sh\necho apply\n", 0755);
	pack_ok(other, &c, &clen);
	assert_int_equal(alen, clen);
	assert_memory_equal(a, c, alen);
	free(c);

	/* And content matters. */
	put_file(other, "empty", "x", 0644);
	pack_ok(other, &c, &clen);
	assert_true(clen != alen || memcmp(a, c, alen) != 0);
	free(c);
	free(a);
}

static void test_pack_refuses_symlink(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], err[256] = "";
	uint8_t *tar = (uint8_t *)"x";
	size_t len = 1;

	put_file(f->src, "apply", "x", 0755);
	PATHF(path, "%s/link", f->src);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(bundle_pack_dir(f->src, &tar, &len, err, sizeof(err)), -1);
	assert_null(tar);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err, "\"link\": symlink not allowed"));
}

static void test_pack_refuses_fifo(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], err[256] = "";
	uint8_t *tar;
	size_t len;

	PATHF(path, "%s/pipe", f->src);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(bundle_pack_dir(f->src, &tar, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "special file"));
}

static void test_pack_refuses_too_many(void **state)
{
	struct fixture *f = *state;
	char name[32], err[256] = "";
	uint8_t *tar;
	size_t len;

	for (int i = 0; i <= BUNDLE_MAX_FILES; i++) {
		PATHF(name, "f%03d", i);
		put_file(f->src, name, "", 0644);
	}
	assert_int_equal(bundle_pack_dir(f->src, &tar, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 256 entries"));
}

static void test_pack_missing_dir(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], err[256] = "";
	uint8_t *tar;
	size_t len;

	PATHF(path, "%s/nope", f->dir);
	assert_int_equal(bundle_pack_dir(path, &tar, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
}

/* Files from outside the directory land at its top with their modes, and
 * the bytes are exactly those of the directory with the files copied in:
 * the agent cannot tell, and a changed added file changes the hash. */
static void test_pack_extra_files(void **state)
{
	struct fixture *f = *state;
	char shared[PATH_MAX], copied[PATH_MAX], lib[PATH_MAX], tool[PATH_MAX], err[256] = "";
	struct bundle_extra extra[2] = {{lib, "zz-lib.sh"}, {tool, "b-tool"}};
	uint8_t *tar, *want;
	size_t len, want_len;

	make_tree(f->src);
	PATHF(shared, "%s/shared", f->dir);
	assert_int_equal(mkdir(shared, 0755), 0);
	put_file(shared, "lib.sh", "shared() { :; }\n", 0644);
	put_file(shared, "tool", "#!/bin/sh\necho tool\n", 0700);
	PATHF(lib, "%s/lib.sh", shared);
	PATHF(tool, "%s/tool", shared);
	if (bundle_pack(f->src, extra, 2, &tar, &len, err, sizeof(err)) != 0)
		fail_msg("bundle_pack: %s", err);
	if (bundle_unpack(tar, len, f->dest, err, sizeof(err)) != 0)
		fail_msg("bundle_unpack: %s", err);
	expect_file(f->dest, "zz-lib.sh", "shared() { :; }\n", 0644);
	expect_file(f->dest, "b-tool", "#!/bin/sh\necho tool\n", 0755);
	expect_file(f->dest, "apply", "#!/bin/sh\necho apply\n", 0755);
	expect_file(f->dest, "lib/common.sh", "f() { :; }\n", 0644);
	assert_int_equal(count_entries(f->dest), 7);

	PATHF(copied, "%s/copied", f->dir);
	assert_int_equal(mkdir(copied, 0755), 0);
	make_tree(copied);
	put_file(copied, "zz-lib.sh", "shared() { :; }\n", 0644);
	put_file(copied, "b-tool", "#!/bin/sh\necho tool\n", 0755);
	pack_ok(copied, &want, &want_len);
	assert_int_equal(len, want_len);
	assert_memory_equal(tar, want, len);
	free(want);

	/* Same inputs, same bytes; another added file's content, other bytes. */
	if (bundle_pack(f->src, extra, 2, &want, &want_len, err, sizeof(err)) != 0)
		fail_msg("bundle_pack: %s", err);
	assert_int_equal(len, want_len);
	assert_memory_equal(tar, want, len);
	free(want);
	put_file(shared, "lib.sh", "shared() { false; }\n", 0644);
	if (bundle_pack(f->src, extra, 2, &want, &want_len, err, sizeof(err)) != 0)
		fail_msg("bundle_pack: %s", err);
	assert_true(want_len != len || memcmp(tar, want, len) != 0);
	free(want);
	free(tar);
}

static void expect_pack_extra_error(const char *dir, const struct bundle_extra *extra, size_t n,
				    const char *reason)
{
	char err[256] = "";
	uint8_t *tar = (uint8_t *)"x";
	size_t len = 1;

	assert_int_equal(bundle_pack(dir, extra, n, &tar, &len, err, sizeof(err)), -1);
	assert_null(tar);
	assert_int_equal(len, 0);
	if (strstr(err, reason) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, reason);
}

static void test_pack_extra_refusals(void **state)
{
	struct fixture *f = *state;
	char file[PATH_MAX], link[PATH_MAX], sub[PATH_MAX], missing[PATH_MAX];
	struct bundle_extra e[2];

	make_tree(f->src);
	PATHF(file, "%s/file", f->dir);
	put_file(f->dir, "file", "x\n", 0644);
	PATHF(link, "%s/link", f->dir);
	assert_int_equal(symlink("file", link), 0);
	PATHF(sub, "%s/sub", f->dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	PATHF(missing, "%s/missing", f->dir);

	e[0] = (struct bundle_extra){file, "role.yaml"};
	expect_pack_extra_error(f->src, e, 1, "\"role.yaml\": added but already in the directory");
	e[0] = (struct bundle_extra){file, "lib"};
	expect_pack_extra_error(f->src, e, 1, "\"lib\": added but already in the directory");
	e[0] = (struct bundle_extra){file, "x.sh"};
	e[1] = (struct bundle_extra){file, "x.sh"};
	expect_pack_extra_error(f->src, e, 2, "\"x.sh\": added twice");
	e[0] = (struct bundle_extra){file, "lib/x.sh"};
	expect_pack_extra_error(f->src, e, 1, "\"lib/x.sh\": an added file goes at the top");
	e[0] = (struct bundle_extra){file, ".."};
	expect_pack_extra_error(f->src, e, 1, "\"..\": \".\" or \"..\" in path");
	e[0] = (struct bundle_extra){file, ""};
	expect_pack_extra_error(f->src, e, 1, "empty path");
	e[0] = (struct bundle_extra){link, "x.sh"};
	expect_pack_extra_error(f->src, e, 1, "/link: not a regular file");
	e[0] = (struct bundle_extra){sub, "x.sh"};
	expect_pack_extra_error(f->src, e, 1, "/sub: not a regular file");
	e[0] = (struct bundle_extra){missing, "x.sh"};
	expect_pack_extra_error(f->src, e, 1, "/missing: No such file or directory");
}

static void test_verify(void **state)
{
	static const uint8_t data[] = "hello";
	char hex[65], upper[65];

	(void)state;
	util_sha256_hex(data, 5, hex);
	assert_int_equal(bundle_verify(data, 5, hex), 0);
	assert_int_equal(bundle_verify(data, 4, hex), -1);
	assert_int_equal(bundle_verify((const uint8_t *)"hellp", 5, hex), -1);
	for (int i = 0; i < 65; i++)
		upper[i] = (char)((hex[i] >= 'a' && hex[i] <= 'f') ? hex[i] - 32 : hex[i]);
	assert_int_equal(bundle_verify(data, 5, upper), -1);
	hex[63] = '\0';
	assert_int_equal(bundle_verify(data, 5, hex), -1);
	assert_int_equal(bundle_verify(data, 5, NULL), -1);
}

/* ---- hand-crafted archives ---- */

struct tarbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

static uint8_t *tar_block(struct tarbuf *t)
{
	if (t->len + 512 > t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8192;
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
	memset(t->p + t->len, 0, 512);
	t->len += 512;
	return t->p + t->len - 512;
}

static void fix_sum(uint8_t *h)
{
	unsigned int sum = 0;

	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

/* Appends a valid ustar header (and the data blocks) and returns the header
 * so a test can break one field and fix the checksum again. */
static uint8_t *tar_entry(struct tarbuf *t, const char *name, char type, const char *data)
{
	size_t dlen = data != NULL ? strlen(data) : 0;
	size_t off;
	uint8_t *h;

	h = tar_block(t);
	off = (size_t)(h - t->p);
	memcpy(h, name, strlen(name));
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	assert_true(snprintf((char *)h + 124, 12, "%011o", (unsigned int)dlen) == 11);
	memcpy(h + 136, "00000000000", 12);
	h[156] = (uint8_t)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	fix_sum(h);
	for (size_t done = 0; done < dlen; done += 512) {
		uint8_t *b = tar_block(t);
		size_t n = dlen - done < 512 ? dlen - done : 512;

		memcpy(b, data + done, n);
	}
	return t->p + off;
}

static void tar_end(struct tarbuf *t)
{
	tar_block(t);
	tar_block(t);
}

static void expect_refused(struct fixture *f, struct tarbuf *t, const char *reason)
{
	char err[256] = "";

	assert_int_equal(bundle_unpack(t->p, t->len, f->dest, err, sizeof(err)), -1);
	if (strstr(err, reason) == NULL)
		fail_msg("err \"%s\" lacks \"%s\"", err, reason);
	assert_null(strchr(err, '\n'));
	assert_false(exists(f->dest));
	free(t->p);
}

static void test_handmade_ok(void **state)
{
	struct fixture *f = *state;
	struct tarbuf t = {0};
	char err[256] = "";
	uint8_t *h;

	tar_entry(&t, "dir/", '5', NULL);
	h = tar_entry(&t, "dir/run", '0', "#!/bin/sh\n");
	memcpy(h + 100, "0000755", 8);
	fix_sum(h);
	tar_entry(&t, "plain", '\0', "x");
	tar_end(&t);
	/* Record padding after the end marker is zeros and allowed. */
	tar_block(&t);
	assert_int_equal(bundle_unpack(t.p, t.len, f->dest, err, sizeof(err)), 0);
	expect_dir(f->dest, "dir", 0755);
	expect_file(f->dest, "dir/run", "#!/bin/sh\n", 0755);
	expect_file(f->dest, "plain", "x", 0644);
	free(t.p);
}

static void test_refuse_bad_checksum(void **state)
{
	struct tarbuf t = {0};
	uint8_t *h = tar_entry(&t, "x", '0', "data");

	h[0] = 'y';
	tar_end(&t);
	expect_refused(*state, &t, "bad header checksum");
}

static void test_refuse_dotdot(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "../x", '0', "evil");
	tar_end(&t);
	expect_refused(*state, &t, "\"../x\": \".\" or \"..\" in path");
}

static void test_refuse_inner_dotdot(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "a/", '5', NULL);
	tar_entry(&t, "a/../../x", '0', "evil");
	tar_end(&t);
	expect_refused(*state, &t, "\"..\" in path");
}

static void test_refuse_absolute(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "/abs", '0', "evil");
	tar_end(&t);
	expect_refused(*state, &t, "\"/abs\": absolute path");
}

static void test_refuse_empty_component(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "a/", '5', NULL);
	tar_entry(&t, "a//b", '0', "x");
	tar_end(&t);
	expect_refused(*state, &t, "empty path component");
}

/* A name with a newline must not break the one-line error. */
static void test_refuse_control_character(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "a\nb", '0', "x");
	tar_end(&t);
	expect_refused(*state, &t, "\"a?b\": control character in path");
}

static void test_refuse_symlink(void **state)
{
	struct tarbuf t = {0};
	uint8_t *h = tar_entry(&t, "link", '2', NULL);

	memcpy(h + 157, "/etc/passwd", 11);
	fix_sum(h);
	tar_end(&t);
	expect_refused(*state, &t, "\"link\": symlink not allowed");
}

static void test_refuse_hardlink(void **state)
{
	struct tarbuf t = {0};
	uint8_t *h;

	tar_entry(&t, "a", '0', "x");
	h = tar_entry(&t, "b", '1', NULL);
	memcpy(h + 157, "a", 1);
	fix_sum(h);
	tar_end(&t);
	expect_refused(*state, &t, "\"b\": hard link not allowed");
}

static void test_refuse_device(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "null", '3', NULL);
	tar_end(&t);
	expect_refused(*state, &t, "\"null\": character device not allowed");
}

static void test_refuse_pax(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "PaxHeader", 'x', "30 path=aaaaaaaaaaaaaaaaaaaaaa\n");
	tar_end(&t);
	expect_refused(*state, &t, "pax extended header not allowed");
}

static void test_refuse_duplicate(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "x", '0', "one");
	tar_entry(&t, "x", '0', "two");
	tar_end(&t);
	expect_refused(*state, &t, "\"x\": duplicate entry");
}

static void test_refuse_duplicate_dir_and_file(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "x/", '5', NULL);
	tar_entry(&t, "x", '0', "two");
	tar_end(&t);
	expect_refused(*state, &t, "\"x\": duplicate entry");
}

static void test_refuse_missing_parent(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "nodir/x", '0', "x");
	tar_end(&t);
	expect_refused(*state, &t, "\"nodir/x\": parent directory");
}

static void test_refuse_file_as_parent(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "f", '0', "x");
	tar_entry(&t, "f/x", '0', "x");
	tar_end(&t);
	expect_refused(*state, &t, "\"f/x\": parent directory");
}

static void test_refuse_too_many_files(void **state)
{
	struct tarbuf t = {0};
	char name[32];

	for (int i = 0; i <= BUNDLE_MAX_FILES; i++) {
		PATHF(name, "f%03d", i);
		tar_entry(&t, name, '0', NULL);
	}
	tar_end(&t);
	expect_refused(*state, &t, "more than 256 entries");
}

static void test_refuse_oversize_bundle(void **state)
{
	struct tarbuf t = {0};

	t.len = BUNDLE_MAX_BYTES + 512;
	t.p = calloc(1, t.len);
	assert_non_null(t.p);
	expect_refused(*state, &t, "over 8388608");
}

static void test_refuse_oversize_entry(void **state)
{
	struct tarbuf t = {0};
	uint8_t *h = tar_entry(&t, "big", '0', NULL);

	snprintf((char *)h + 124, 12, "%011o", BUNDLE_MAX_BYTES + 1);
	fix_sum(h);
	tar_end(&t);
	expect_refused(*state, &t, "\"big\": entry over 8388608 bytes");
}

static void test_refuse_truncated_data(void **state)
{
	struct tarbuf t = {0};
	uint8_t *h = tar_entry(&t, "x", '0', "short");

	/* Claims 4 KiB; only two blocks follow. */
	snprintf((char *)h + 124, 12, "%011o", 4096);
	fix_sum(h);
	tar_end(&t);
	expect_refused(*state, &t, "\"x\": truncated bundle");
}

static void test_refuse_no_end_marker(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "a", '0', "x");
	tar_entry(&t, "b", '0', "x");
	expect_refused(*state, &t, "truncated bundle: no end marker");
}

static void test_refuse_one_zero_block(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "a", '0', "x");
	tar_block(&t);
	tar_entry(&t, "b", '0', NULL);
	expect_refused(*state, &t, "one zero block");
}

static void test_refuse_partial_block(void **state)
{
	struct tarbuf t = {0};

	tar_entry(&t, "a", '0', "x");
	tar_end(&t);
	t.len -= 100;
	expect_refused(*state, &t, "truncated bundle");
}

static void test_refuse_trailing_garbage(void **state)
{
	struct tarbuf t = {0};
	uint8_t *b;

	tar_entry(&t, "a", '0', "x");
	tar_end(&t);
	b = tar_block(&t);
	b[7] = 1;
	expect_refused(*state, &t, "data after the end");
}

static void test_refuse_non_octal_size(void **state)
{
	struct tarbuf t = {0};
	uint8_t *h = tar_entry(&t, "x", '0', "data");

	memcpy(h + 124, "0000000000g", 11);
	fix_sum(h);
	tar_end(&t);
	expect_refused(*state, &t, "\"x\": bad octal field");
}

static void test_refuse_base256_size(void **state)
{
	struct tarbuf t = {0};
	uint8_t *h = tar_entry(&t, "x", '0', NULL);

	memset(h + 124, 0, 12);
	h[124] = 0x80;
	fix_sum(h);
	tar_end(&t);
	expect_refused(*state, &t, "bad octal field");
}

static void test_refuse_garbage_after_name_nul(void **state)
{
	struct tarbuf t = {0};
	uint8_t *h = tar_entry(&t, "x", '0', NULL);

	h[50] = 'z';
	fix_sum(h);
	tar_end(&t);
	expect_refused(*state, &t, "bytes after the NUL");
}

static void test_refuse_not_ustar(void **state)
{
	struct tarbuf t = {0};
	uint8_t *h = tar_entry(&t, "x", '0', NULL);

	memcpy(h + 257, "ustar  ", 8);
	fix_sum(h);
	tar_end(&t);
	expect_refused(*state, &t, "not a posix ustar header");
}

static void test_refuse_dest_not_empty(void **state)
{
	struct fixture *f = *state;
	struct tarbuf t = {0};
	char err[256] = "";

	tar_entry(&t, "x", '0', "x");
	tar_end(&t);
	assert_int_equal(mkdir(f->dest, 0755), 0);
	put_file(f->dest, "keep", "mine", 0644);
	assert_int_equal(bundle_unpack(t.p, t.len, f->dest, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "destination is not empty"));
	/* Not ours: left as it was. */
	expect_file(f->dest, "keep", "mine", 0644);
	assert_int_equal(count_entries(f->dest), 1);
	free(t.p);
}

static void test_refuse_dest_symlink(void **state)
{
	struct fixture *f = *state;
	struct tarbuf t = {0};
	char target[PATH_MAX], err[256] = "";

	tar_entry(&t, "x", '0', "x");
	tar_end(&t);
	PATHF(target, "%s/target", f->dir);
	assert_int_equal(mkdir(target, 0755), 0);
	assert_int_equal(symlink(target, f->dest), 0);
	assert_int_equal(bundle_unpack(t.p, t.len, f->dest, err, sizeof(err)), -1);
	assert_int_equal(count_entries(target), 0);
	assert_true(exists(f->dest));
	free(t.p);
}

static void test_unpack_into_empty_dest(void **state)
{
	struct fixture *f = *state;
	struct tarbuf t = {0};
	char err[256] = "";

	tar_entry(&t, "x", '0', "x");
	tar_end(&t);
	assert_int_equal(mkdir(f->dest, 0700), 0);
	assert_int_equal(bundle_unpack(t.p, t.len, f->dest, err, sizeof(err)), 0);
	expect_file(f->dest, "x", "x", 0644);
	free(t.p);
}

/* ---- cache ---- */

static void test_cache_store_lookup(void **state)
{
	struct fixture *f = *state;
	char hash[65], want[PATH_MAX], err[256] = "";
	char *path, *again;
	uint8_t *tar;
	size_t len;

	make_tree(f->src);
	pack_ok(f->src, &tar, &len);
	util_sha256_hex(tar, len, hash);
	assert_null(bundle_cache_lookup(f->cache, hash));

	path = bundle_cache_store(f->cache, hash, tar, len, err, sizeof(err));
	if (path == NULL)
		fail_msg("bundle_cache_store: %s", err);
	PATHF(want, "%s/%s", f->cache, hash);
	assert_string_equal(path, want);
	expect_file(path, "apply", "#!/bin/sh\necho apply\n", 0755);
	expect_file(path, "lib/big", big_content, 0755);

	again = bundle_cache_lookup(f->cache, hash);
	assert_non_null(again);
	assert_string_equal(again, path);
	free(again);

	/* Storing again is a hit, not a second copy. */
	again = bundle_cache_store(f->cache, hash, tar, len, err, sizeof(err));
	assert_non_null(again);
	assert_string_equal(again, path);
	free(again);
	assert_int_equal(count_entries(f->cache), 1);
	free(path);
	free(tar);
}

static void test_cache_store_hash_mismatch(void **state)
{
	struct fixture *f = *state;
	char hash[65], err[256] = "";
	uint8_t *tar;
	size_t len;

	make_tree(f->src);
	pack_ok(f->src, &tar, &len);
	util_sha256_hex(tar, len, hash);
	tar[0] ^= 1;
	assert_null(bundle_cache_store(f->cache, hash, tar, len, err, sizeof(err)));
	assert_non_null(strstr(err, "sha256 does not match"));
	assert_int_equal(count_entries(f->cache), 0);
	assert_null(bundle_cache_lookup(f->cache, hash));
	free(tar);
}

static void test_cache_store_bad_bundle(void **state)
{
	struct fixture *f = *state;
	struct tarbuf t = {0};
	char hash[65], err[256] = "";

	tar_entry(&t, "../x", '0', "evil");
	tar_end(&t);
	util_sha256_hex(t.p, t.len, hash);
	assert_int_equal(mkdir(f->cache, 0700), 0);
	assert_null(bundle_cache_store(f->cache, hash, t.p, t.len, err, sizeof(err)));
	assert_non_null(strstr(err, "\"..\" in path"));
	assert_int_equal(count_entries(f->cache), 0);
	free(t.p);
}

static void test_cache_incomplete_and_bad_hash(void **state)
{
	struct fixture *f = *state;
	char hash[65], path[PATH_MAX], err[256] = "";
	char *got;
	uint8_t *tar;
	size_t len;

	make_tree(f->src);
	pack_ok(f->src, &tar, &len);
	util_sha256_hex(tar, len, hash);

	/* A directory without the marker (a crash mid-store) is not a hit, and
	 * a later store replaces it. */
	assert_int_equal(mkdir(f->cache, 0700), 0);
	PATHF(path, "%s/%s", f->cache, hash);
	assert_int_equal(mkdir(path, 0700), 0);
	put_file(path, "half", "x", 0644);
	assert_null(bundle_cache_lookup(f->cache, hash));
	got = bundle_cache_store(f->cache, hash, tar, len, err, sizeof(err));
	if (got == NULL)
		fail_msg("bundle_cache_store: %s", err);
	assert_false(exists(strcat(path, "/half")));
	expect_file(got, "apply", "#!/bin/sh\necho apply\n", 0755);
	assert_int_equal(count_entries(f->cache), 1);
	free(got);

	assert_null(bundle_cache_lookup(f->cache, "../../etc"));
	assert_null(bundle_cache_lookup(f->cache, "ABCD"));
	assert_null(bundle_cache_store(f->cache, "../x", tar, len, err, sizeof(err)));
	assert_non_null(strstr(err, "bad bundle hash"));
	free(tar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_pack_unpack_roundtrip),
		T(test_pack_empty_dir),
		T(test_long_path_roundtrip),
		T(test_pack_deterministic),
		T(test_pack_refuses_symlink),
		T(test_pack_refuses_fifo),
		T(test_pack_refuses_too_many),
		T(test_pack_missing_dir),
		T(test_pack_extra_files),
		T(test_pack_extra_refusals),
		T(test_verify),
		T(test_handmade_ok),
		T(test_refuse_bad_checksum),
		T(test_refuse_dotdot),
		T(test_refuse_inner_dotdot),
		T(test_refuse_absolute),
		T(test_refuse_empty_component),
		T(test_refuse_control_character),
		T(test_refuse_symlink),
		T(test_refuse_hardlink),
		T(test_refuse_device),
		T(test_refuse_pax),
		T(test_refuse_duplicate),
		T(test_refuse_duplicate_dir_and_file),
		T(test_refuse_missing_parent),
		T(test_refuse_file_as_parent),
		T(test_refuse_too_many_files),
		T(test_refuse_oversize_bundle),
		T(test_refuse_oversize_entry),
		T(test_refuse_truncated_data),
		T(test_refuse_no_end_marker),
		T(test_refuse_one_zero_block),
		T(test_refuse_partial_block),
		T(test_refuse_trailing_garbage),
		T(test_refuse_non_octal_size),
		T(test_refuse_base256_size),
		T(test_refuse_garbage_after_name_nul),
		T(test_refuse_not_ustar),
		T(test_refuse_dest_not_empty),
		T(test_refuse_dest_symlink),
		T(test_unpack_into_empty_dest),
		T(test_cache_store_lookup),
		T(test_cache_store_hash_mismatch),
		T(test_cache_store_bad_bundle),
		T(test_cache_incomplete_and_bad_hash),
#undef T
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
