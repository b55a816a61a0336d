/* test_util.c — the small parsers and file helpers everything else trusts:
 * durations, integers, host:port, atomic writes with modes, bounded reads,
 * one-line text for logs and terminals, the one rule for ids and names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"

static void test_durations(void **state)
{
	int64_t s;

	assert_int_equal(util_parse_duration("90", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(util_parse_duration("90s", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(util_parse_duration("15m", &s), 0);
	assert_int_equal(s, 900);
	assert_int_equal(util_parse_duration("1h", &s), 0);
	assert_int_equal(s, 3600);
	assert_int_equal(util_parse_duration("7d", &s), 0);
	assert_int_equal(s, 7 * 86400);
	static const char *const bad[] = {"", "h", "-1h", "+1h", "1x", "1.5h", "1 h", "1hh",
					  "99999999999999999999", NULL};
	for (size_t i = 0; i < OC_ARRAY_LEN(bad); i++)
		assert_int_equal(util_parse_duration(bad[i], &s), -1);
}

static void test_ints(void **state)
{
	int64_t v;

	assert_int_equal(util_parse_int("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(util_parse_int("101", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("-1", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("4x", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("", 0, 100, &v), -1);
	/* strtoll would take these; a number here starts with a digit or '-' */
	assert_int_equal(util_parse_int(" 1", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("+1", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("\t1", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("- 1", -100, 100, &v), -1);
	assert_int_equal(util_parse_int("-+1", -100, 100, &v), -1);
	assert_int_equal(util_parse_int("1 ", 0, 100, &v), -1);
	assert_int_equal(util_parse_int("-7", -100, 100, &v), 0);
	assert_int_equal(v, -7);
	assert_int_equal(util_parse_int(NULL, 0, 100, &v), -1);
}

static void test_hostport(void **state)
{
	char host[64];
	uint16_t port;

	assert_int_equal(util_parse_hostport("10.0.0.5:6126", host, sizeof(host), &port), 0);
	assert_string_equal(host, "10.0.0.5");
	assert_int_equal(port, 6126);
	assert_int_equal(util_parse_hostport("tower.example:1", host, sizeof(host), &port), 0);
	assert_string_equal(host, "tower.example");
	assert_int_equal(util_parse_hostport("[::1]:6125", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 6125);
	static const char *const bad[] = {"host", ":80", "host:", "host:65536", "::1:80",
					  "[::1]80", "[::1", "host:-1", NULL};
	for (size_t i = 0; i < OC_ARRAY_LEN(bad); i++)
		assert_int_equal(util_parse_hostport(bad[i], host, sizeof(host), &port), -1);
	assert_int_equal(util_parse_hostport("averyveryverylonghostname:1", host, 8, &port), -1);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/oc-util.XXXXXX", path[128], nested[128];
	struct stat st;
	size_t len;
	char *text;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/secret", dir);
	assert_int_equal(util_write_file(path, "abc", 3, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* rewriting keeps the mode asked for, not the old one */
	assert_int_equal(util_write_file(path, "abcdef", 6, 0644), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	text = util_read_file(path, 100, &len);
	assert_non_null(text);
	assert_int_equal(len, 6);
	assert_string_equal(text, "abcdef");
	free(text);
	/* over the limit: refused, not truncated */
	assert_null(util_read_file(path, 5, &len));
	assert_int_equal(errno, EFBIG);
	assert_null(util_read_file("/nonexistent/x", 5, &len));
	assert_int_equal(errno, ENOENT);
	snprintf(nested, sizeof(nested), "%s/a/b/c", dir);
	assert_int_equal(util_mkdir_p(nested, 0700), 0);
	assert_int_equal(util_mkdir_p(nested, 0700), 0);
	assert_int_equal(util_remove_tree(dir), 0);
	assert_int_equal(stat(dir, &st), -1);
}

static void test_hex_and_compare(void **state)
{
	char hex[65];

	util_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(util_consttime_cmp("abcd", "abcd", 4), 0);
	assert_int_not_equal(util_consttime_cmp("abcd", "abce", 4), 0);
}

/* Peer text quoted in a log line or printed for an operator: one line, no
 * escape sequences. */
static void test_one_line(void **state)
{
	char text[] = "pi\033]0;owned\007-01\r\n\x7f", path[] = "/tmp/test_util.XXXXXX";
	char *logged;
	size_t len;
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);

	(void)state;
	util_one_line(text);
	assert_string_equal(text, "pi?]0;owned?-01???");
	util_one_line(NULL);
	/* the log writes one line, newlines as spaces, other controls as '?' */
	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	log_init("test_util", OC_LOG_INFO);
	log_warn("agent says %s", "a\033[2Jb\nc\td");
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	close(fd);
	logged = util_read_file(path, 4096, &len);
	unlink(path);
	assert_non_null(logged);
	assert_non_null(strstr(logged, "agent says a?[2Jb c d\n"));
	assert_int_equal(strchr(logged, '\n') - logged, (long)len - 1);
	free(logged);
}

/* The one name rule: every id the tower makes and every node, role and
 * OverCloud name passes; what could walk a path, read as an option or hide
 * a file does not. */
static void test_names(void **state)
{
	static const char *const good[] = {
		"n-0123456789abcdef", "t-0a1b2c3d", "r-a1b2c3", "oc-0011223344556677",
		"k8s-worker", "node_1.example", "A", "x..y", "_underscore",
	};
	static const char *const bad[] = {
		"", ".", "..", ".hidden", "-x", "--tower", "a/b", "../x", "a b", "a\tb",
		"caf\xc3\xa9", "a:b", "a$b", "a\nb",
	};
	char longest[65], too_long[66];

	(void)state;
	for (size_t i = 0; i < OC_ARRAY_LEN(good); i++)
		assert_true(util_name_ok(good[i], 64));
	for (size_t i = 0; i < OC_ARRAY_LEN(bad); i++)
		assert_false(util_name_ok(bad[i], 64));
	assert_false(util_name_ok(NULL, 64));
	memset(longest, 'a', 64);
	longest[64] = '\0';
	memset(too_long, 'a', 65);
	too_long[65] = '\0';
	assert_true(util_name_ok(longest, 64));
	assert_false(util_name_ok(too_long, 64));
	/* the bound is the caller's: the store keeps ids under STORE_ID_MAX */
	assert_false(util_name_ok(longest, 63));
	assert_true(util_name_ok("abc", 3));
	assert_false(util_name_ok("abcd", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_ints),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_hex_and_compare),
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
