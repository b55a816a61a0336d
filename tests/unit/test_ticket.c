/* test_ticket.c — TLS session tickets: sealed and opened again, across a
 * reopen of the key file (a tower restart), after rotation, and refused
 * when short, tampered with, of an unknown key, expired or garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/ssl.h>

#include "shared/util.h"
#include "tower/fleet/ticket.h"

#define DAY 86400

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/oc-ticket.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/tickets.key", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	util_remove_tree(f->dir);
	free(f);
	return 0;
}

/* A session with recognisable fields; no peer certificate needed. */
static void make_session(mbedtls_ssl_session *s)
{
	mbedtls_ssl_session_init(s);
	s->ciphersuite = MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
	s->id_len = 32;
	memset(s->id, 0x5a, sizeof(s->id));
	for (size_t i = 0; i < sizeof(s->master); i++)
		s->master[i] = (unsigned char)i;
	s->verify_result = 0;
}

static size_t seal(struct ticket_keys *tk, unsigned char *buf, size_t size)
{
	mbedtls_ssl_session s;
	size_t len = 0;
	uint32_t lifetime = 0;

	make_session(&s);
	assert_int_equal(ticket_seal(tk, &s, buf, buf + size, &len, &lifetime), 0);
	assert_true(len > 4 + 12 + 8 + 16);
	assert_true(lifetime > 0);
	mbedtls_ssl_session_free(&s);
	return len;
}

static int open_copy(struct ticket_keys *tk, const unsigned char *ticket, size_t len)
{
	unsigned char copy[4096];
	mbedtls_ssl_session s;
	int rc;

	assert_true(len <= sizeof(copy));
	memcpy(copy, ticket, len);
	mbedtls_ssl_session_init(&s);
	rc = ticket_open(tk, &s, copy, len);
	if (rc == 0) {
		assert_int_equal(s.ciphersuite, MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
		assert_int_equal(s.master[47], 47);
	}
	mbedtls_ssl_session_free(&s);
	return rc;
}

static void test_round_trip_and_file_mode(void **state)
{
	struct fixture *f = *state;
	char err[256];
	unsigned char ticket[4096];
	struct ticket_keys *tk = ticket_keys_open(f->path, DAY, err, sizeof(err));
	struct stat st;
	size_t len;

	assert_non_null(tk);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	len = seal(tk, ticket, sizeof(ticket));
	assert_int_equal(open_copy(tk, ticket, len), 0);
	assert_int_equal(ticket_keys_opened(tk), 1);
	ticket_keys_free(tk);
}

/* The point of keeping the key on disk: a restarted tower opens tickets
 * it sealed before. */
static void test_survives_reopen(void **state)
{
	struct fixture *f = *state;
	char err[256];
	unsigned char ticket[4096];
	struct ticket_keys *tk = ticket_keys_open(f->path, DAY, err, sizeof(err));
	size_t len = seal(tk, ticket, sizeof(ticket));

	ticket_keys_free(tk);
	tk = ticket_keys_open(f->path, DAY, err, sizeof(err));
	assert_non_null(tk);
	assert_int_equal(open_copy(tk, ticket, len), 0);
	ticket_keys_free(tk);
}

/* An old key is replaced for sealing but still opens its tickets. */
static void test_rotation_keeps_previous_key(void **state)
{
	struct fixture *f = *state;
	char err[256], *text;
	unsigned char old_ticket[4096], new_ticket[4096];
	struct ticket_keys *tk = ticket_keys_open(f->path, DAY, err, sizeof(err));
	size_t old_len = seal(tk, old_ticket, sizeof(old_ticket)), len, new_len;
	char line[256];
	long long created;

	ticket_keys_free(tk);
	/* age the key on disk past the rotation period */
	text = util_read_file(f->path, 4096, &len);
	assert_non_null(text);
	assert_int_equal(sscanf(text, "%lld", &created), 1);
	snprintf(line, sizeof(line), "%lld%s", created - DAY - 10, strchr(text, ' '));
	free(text);
	assert_int_equal(util_write_file(f->path, line, strlen(line), 0600), 0);

	tk = ticket_keys_open(f->path, DAY, err, sizeof(err));
	assert_non_null(tk);
	new_len = seal(tk, new_ticket, sizeof(new_ticket));
	assert_memory_not_equal(old_ticket, new_ticket, 4);   /* another key name */
	assert_int_equal(open_copy(tk, old_ticket, old_len), 0);
	assert_int_equal(open_copy(tk, new_ticket, new_len), 0);
	ticket_keys_free(tk);
	text = util_read_file(f->path, 4096, &len);
	assert_non_null(text);
	assert_non_null(strchr(text, '\n'));
	assert_non_null(strchr(strchr(text, '\n') + 1, '\n'));   /* two keys kept */
	free(text);
}

static void test_refuses_tampered_and_short(void **state)
{
	struct fixture *f = *state;
	char err[256];
	unsigned char ticket[4096];
	struct ticket_keys *tk = ticket_keys_open(f->path, DAY, err, sizeof(err));
	size_t len = seal(tk, ticket, sizeof(ticket));

	/* every byte is covered: name, IV, time, sealed session, tag */
	for (size_t i = 0; i < len; i++) {
		ticket[i] ^= 0x01;
		assert_int_not_equal(open_copy(tk, ticket, len), 0);
		ticket[i] ^= 0x01;
	}
	for (size_t cut = 0; cut < len; cut++)
		assert_int_not_equal(open_copy(tk, ticket, cut), 0);
	assert_int_equal(open_copy(tk, ticket, len), 0);
	assert_int_equal(ticket_keys_opened(tk), 1);
	ticket_keys_free(tk);
}

static void test_refuses_other_towers_ticket(void **state)
{
	struct fixture *f = *state;
	char err[256], other[160];
	unsigned char ticket[4096];
	struct ticket_keys *tk = ticket_keys_open(f->path, DAY, err, sizeof(err)), *tk2;
	size_t len = seal(tk, ticket, sizeof(ticket));

	snprintf(other, sizeof(other), "%s/other.key", f->dir);
	tk2 = ticket_keys_open(other, DAY, err, sizeof(err));
	assert_non_null(tk2);
	assert_int_equal(open_copy(tk2, ticket, len), MBEDTLS_ERR_SSL_INVALID_MAC);
	ticket_keys_free(tk2);
	ticket_keys_free(tk);
}

static void test_refuses_expired(void **state)
{
	struct fixture *f = *state;
	char err[256];
	unsigned char ticket[4096];
	struct ticket_keys *tk = ticket_keys_open(f->path, 1, err, sizeof(err));
	size_t len = seal(tk, ticket, sizeof(ticket));

	/* a ticket lives as long as the rotation period: 1 s here */
	sleep(2);
	assert_int_equal(open_copy(tk, ticket, len), MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED);
	ticket_keys_free(tk);
}

static void test_bad_key_file(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"garbage\n",
		"123 zzzzzzzz 00\n",
		"123 0011223 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
		"123 00112233 00112233\n",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(util_write_file(f->path, bad[i], strlen(bad[i]), 0600), 0);
		err[0] = '\0';
		assert_null(ticket_keys_open(f->path, DAY, err, sizeof(err)));
		assert_non_null(strstr(err, "tickets.key"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_and_file_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_keeps_previous_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_tampered_and_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_other_towers_ticket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_key_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
