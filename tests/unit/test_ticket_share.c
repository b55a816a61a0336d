/* test_ticket_share.c — ticket keys shared by replicas through the store:
 * key rows sealed and opened (bad, short, tampered, moved rows refused),
 * two replicas on one database resuming each other's tickets, one
 * generation made per rotation, a replica with another CA key refused
 * once in the log and never adding keys. Runs on sqlite, and again on
 * PostgreSQL (unit/test_ticket_share@pg through tests/integration/pg_run.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ssl.h>

#include "shared/util.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/ticket.h"
#include "tower/fleet/ticket_share.h"
#include "tower/store/store.h"
#include "store_target.h"

#define DAY 86400

static const uint8_t kek_a[TICKET_KEK_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t kek_other[TICKET_KEK_LEN] = { 9, 9, 9 };

/* One replica: its own connection to the shared database, its keys. */
struct replica {
	struct store *st;
	struct ticket_keys *tk;
	struct ticket_share *ts;
};

struct fixture {
	char dir[64];
	char path[STORE_TARGET_MAX];
	struct replica a, b;
};

static void replica_up(struct fixture *f, struct replica *r, const uint8_t *kek)
{
	char err[256] = "";

	r->st = store_open(f->path, err, sizeof(err));
	if (r->st == NULL)
		fail_msg("store_open: %s", err);
	r->tk = ticket_keys_new_shared(DAY, err, sizeof(err));
	assert_non_null(r->tk);
	r->ts = ticket_share_new(r->tk, r->st, kek, DAY, err, sizeof(err));
	assert_non_null(r->ts);
}

static void replica_down(struct replica *r)
{
	ticket_share_free(r->ts);
	ticket_keys_free(r->tk);
	store_close(r->st);
	memset(r, 0, sizeof(*r));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_ticket_share.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	if (store_target_make(f->dir, "tower.db", f->path, sizeof(f->path)) != 0) {
		util_remove_tree(f->dir);
		free(f);
		fail_msg("cannot make a database for the test");
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	replica_down(&f->a);
	replica_down(&f->b);
	store_target_drop(f->path);
	util_remove_tree(f->dir);
	free(f);
	return 0;
}

static int64_t rows(struct fixture *f, const char *sql)
{
	return store_target_int(f->path, sql);
}

/* Every key row is made older than the rotation period. */
static void age_rows(struct fixture *f)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "UPDATE ticket_keys SET created_ms = created_ms - %lld",
		 (long long)(DAY + 60) * 1000);
	assert_int_equal(store_target_exec(f->path, sql), 0);
}

static void make_session(mbedtls_ssl_session *s)
{
	mbedtls_ssl_session_init(s);
	s->ciphersuite = MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
	s->id_len = 32;
	for (size_t i = 0; i < sizeof(s->master); i++)
		s->master[i] = (unsigned char)i;
}

/* A ticket sealed by tk: its length, or 0 when tk issued none. */
static size_t seal(struct ticket_keys *tk, unsigned char *buf, size_t size)
{
	mbedtls_ssl_session s;
	size_t len = 0;
	uint32_t lifetime = 0;
	int rc;

	make_session(&s);
	rc = ticket_seal(tk, &s, buf, buf + size, &len, &lifetime);
	mbedtls_ssl_session_free(&s);
	return rc == 0 ? len : 0;
}

static int open_copy(struct ticket_keys *tk, const unsigned char *ticket, size_t len)
{
	unsigned char copy[4096];
	mbedtls_ssl_session s;
	int rc;

	memcpy(copy, ticket, len);
	mbedtls_ssl_session_init(&s);
	rc = ticket_open(tk, &s, copy, len);
	if (rc == 0)
		assert_int_equal(s.master[47], 47);
	mbedtls_ssl_session_free(&s);
	return rc;
}

/* ---- key rows ---- */

static void test_row_round_trip(void **state)
{
	struct ticket_key_material m, back;
	char text[TICKET_ROW_TEXT_LEN + 1], key_hex[2 * TICKET_KEY_LEN + 1];

	(void)state;
	memset(&m, 0x3c, sizeof(m));
	memcpy(m.name, "abcd", 4);
	assert_int_equal(ticket_row_seal(kek_a, 7, &m, text, sizeof(text)), 0);
	assert_int_equal(strlen(text), TICKET_ROW_TEXT_LEN);
	assert_int_equal(strspn(text, "0123456789abcdef"), TICKET_ROW_TEXT_LEN);
	/* the key is not in the row in the clear */
	util_hex(m.key, sizeof(m.key), key_hex);
	assert_null(strstr(text, key_hex));
	assert_null(strstr(text, "3c3c3c3c3c3c3c3c"));
	assert_int_equal(ticket_row_open(kek_a, 7, text, strlen(text), &back), 0);
	assert_memory_equal(&back, &m, sizeof(m));
	/* a fresh IV each time: the same key seals to another row */
	{
		char again[TICKET_ROW_TEXT_LEN + 1];

		assert_int_equal(ticket_row_seal(kek_a, 7, &m, again, sizeof(again)), 0);
		assert_string_not_equal(again, text);
	}
	assert_int_equal(ticket_row_seal(kek_a, 7, &m, text, TICKET_ROW_TEXT_LEN), -1);
	assert_int_equal(ticket_row_seal(kek_a, 0, &m, text, sizeof(text)), -1);
}

static void assert_refused(const char *text, size_t len, int64_t generation, const uint8_t *kek)
{
	struct ticket_key_material out;
	static const struct ticket_key_material zero;

	memset(&out, 0xee, sizeof(out));
	assert_int_equal(ticket_row_open(kek, generation, text, len, &out), -1);
	assert_memory_equal(&out, &zero, sizeof(out));
}

static void test_row_refused(void **state)
{
	struct ticket_key_material m;
	char text[TICKET_ROW_TEXT_LEN + 1], bad[TICKET_ROW_TEXT_LEN + 8];

	(void)state;
	memset(&m, 0x42, sizeof(m));
	assert_int_equal(ticket_row_seal(kek_a, 3, &m, text, sizeof(text)), 0);
	assert_refused(text, strlen(text), 3, kek_other);	/* another CA key */
	assert_refused(text, strlen(text), 4, kek_a);	/* moved to another generation */
	assert_refused(text, strlen(text), 0, kek_a);
	assert_refused(NULL, 0, 3, kek_a);
	assert_refused("", 0, 3, kek_a);
	assert_refused(text, strlen(text) - 2, 3, kek_a);	/* short */
	assert_refused(text, 1, 3, kek_a);
	snprintf(bad, sizeof(bad), "%s00", text);		/* long */
	assert_refused(bad, strlen(bad), 3, kek_a);
	/* every digit changed in turn: the version, the IV, the sealed key, the tag */
	for (size_t i = 0; i < TICKET_ROW_TEXT_LEN; i++) {
		memcpy(bad, text, sizeof(text));
		bad[i] = bad[i] == '0' ? '1' : '0';
		assert_refused(bad, TICKET_ROW_TEXT_LEN, 3, kek_a);
	}
	/* the same bytes spelled in upper case, and not hex at all */
	memcpy(bad, text, sizeof(text));
	for (size_t i = 0; i < TICKET_ROW_TEXT_LEN; i++)
		if (bad[i] >= 'a' && bad[i] <= 'f')
			bad[i] = (char)(bad[i] - 'a' + 'A');
	if (strcmp(bad, text) != 0)
		assert_refused(bad, TICKET_ROW_TEXT_LEN, 3, kek_a);
	memcpy(bad, text, sizeof(text));
	bad[40] = 'g';
	assert_refused(bad, TICKET_ROW_TEXT_LEN, 3, kek_a);
	memcpy(bad, text, sizeof(text));
	bad[41] = '\0';
	assert_refused(bad, TICKET_ROW_TEXT_LEN, 3, kek_a);
}

/* ---- two replicas on one database ---- */

static void test_replicas_resume_each_others_tickets(void **state)
{
	struct fixture *f = *state;
	unsigned char ticket[4096];
	size_t len;

	replica_up(f, &f->a, kek_a);
	replica_up(f, &f->b, kek_a);
	assert_int_equal(seal(f->a.tk, ticket, sizeof(ticket)), 0);	/* no key yet */
	assert_int_equal(ticket_share_sync(f->a.ts), 1);
	assert_int_equal(ticket_share_sync(f->b.ts), 1);		/* found, not made again */
	assert_int_equal(rows(f, "SELECT count(*) FROM ticket_keys"), 1);
	len = seal(f->a.tk, ticket, sizeof(ticket));
	assert_true(len > 0);
	assert_int_equal(open_copy(f->b.tk, ticket, len), 0);
	assert_int_equal(ticket_keys_opened(f->b.tk), 1);
	len = seal(f->b.tk, ticket, sizeof(ticket));
	assert_int_equal(open_copy(f->a.tk, ticket, len), 0);
	/* a sync that finds nothing new changes nothing */
	assert_int_equal(ticket_share_sync(f->b.ts), 1);
	assert_int_equal(open_copy(f->a.tk, ticket, len), 0);
}

static void test_rotation_makes_one_generation(void **state)
{
	struct fixture *f = *state;
	unsigned char old_ticket[4096], new_ticket[4096];
	size_t old_len, new_len;

	replica_up(f, &f->a, kek_a);
	replica_up(f, &f->b, kek_a);
	assert_int_equal(ticket_share_sync(f->a.ts), 1);
	assert_int_equal(ticket_share_sync(f->b.ts), 1);
	old_len = seal(f->b.tk, old_ticket, sizeof(old_ticket));
	age_rows(f);
	/* both find it due; the first makes generation 2, the second takes it */
	assert_int_equal(ticket_share_sync(f->a.ts), 2);
	assert_int_equal(ticket_share_sync(f->b.ts), 2);
	assert_int_equal(rows(f, "SELECT count(*) FROM ticket_keys"), 2);
	/* the one that loses the race for a generation is told so */
	assert_int_equal(store_ticket_key_add(f->b.st, 2, "00"), 0);
	new_len = seal(f->a.tk, new_ticket, sizeof(new_ticket));
	assert_memory_not_equal(old_ticket, new_ticket, TICKET_KEY_NAME_LEN);
	assert_int_equal(open_copy(f->b.tk, new_ticket, new_len), 0);
	assert_int_equal(open_copy(f->a.tk, old_ticket, old_len), 0);	/* previous still opens */
	/* one more rotation: generation 1 goes, its tickets with it */
	age_rows(f);
	assert_int_equal(ticket_share_sync(f->b.ts), 3);
	assert_int_equal(ticket_share_sync(f->a.ts), 3);
	assert_int_equal(rows(f, "SELECT count(*) FROM ticket_keys"), 2);
	assert_int_equal(rows(f, "SELECT min(generation) FROM ticket_keys"), 2);
	assert_int_not_equal(open_copy(f->a.tk, old_ticket, old_len), 0);
	assert_int_equal(open_copy(f->a.tk, new_ticket, new_len), 0);
}

/* A ticket naming a key this replica has not read yet: refused (a full
 * handshake), flagged once for the owner to read again, then opened. */
static void test_unknown_key_asks_for_a_sync(void **state)
{
	struct fixture *f = *state;
	unsigned char ticket[4096];
	size_t len;

	replica_up(f, &f->a, kek_a);
	replica_up(f, &f->b, kek_a);
	assert_int_equal(ticket_share_sync(f->a.ts), 1);
	assert_int_equal(ticket_share_sync(f->b.ts), 1);
	age_rows(f);
	assert_int_equal(ticket_share_sync(f->a.ts), 2);
	len = seal(f->a.tk, ticket, sizeof(ticket));
	assert_false(ticket_keys_take_unknown(f->b.tk));
	assert_int_not_equal(open_copy(f->b.tk, ticket, len), 0);
	assert_true(ticket_keys_take_unknown(f->b.tk));
	assert_false(ticket_keys_take_unknown(f->b.tk));
	assert_int_equal(ticket_share_sync(f->b.ts), 2);
	assert_int_equal(open_copy(f->b.tk, ticket, len), 0);
}

/* Runs fn with stderr (the log) in a file; returns how many lines of it
 * hold needle. */
static int log_lines_with(struct fixture *f, void (*fn)(struct fixture *f), const char *needle)
{
	char path[128], *text, *p;
	int saved, fd, count = 0;
	size_t len;

	snprintf(path, sizeof(path), "%s/stderr.log", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	fn(f);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	text = util_read_file(path, 1 << 20, &len);
	assert_non_null(text);
	for (p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		count++;
	free(text);
	return count;
}

static void three_syncs_of_b(struct fixture *f)
{
	for (int i = 0; i < 3; i++)
		assert_int_equal(ticket_share_sync(f->b.ts), 0);
}

static void test_other_ca_key_falls_back_and_adds_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned char ticket[4096];
	size_t len;

	replica_up(f, &f->a, kek_a);
	replica_up(f, &f->b, kek_other);
	assert_int_equal(ticket_share_sync(f->a.ts), 1);
	/* logged once, however often it reads the row again */
	assert_int_equal(log_lines_with(f, three_syncs_of_b, "does not open"), 1);
	len = seal(f->a.tk, ticket, sizeof(ticket));
	assert_int_not_equal(open_copy(f->b.tk, ticket, len), 0);	/* a full handshake */
	assert_int_equal(seal(f->b.tk, ticket, sizeof(ticket)), 0);	/* no ticket issued */
	/* due for rotation, b still makes no key the others could not open */
	age_rows(f);
	assert_int_equal(ticket_share_sync(f->b.ts), 0);
	assert_int_equal(rows(f, "SELECT max(generation) FROM ticket_keys"), 1);
	assert_int_equal(ticket_share_sync(f->a.ts), 2);
	/* a new generation it cannot open either is logged again, once */
	assert_int_equal(log_lines_with(f, three_syncs_of_b, "generation 2 in the database does not open"), 1);
}

/* A row changed in the database does not open: the replica drops the key
 * it had and issues no tickets, rather than use a key it cannot trust. */
static void test_tampered_row_is_dropped(void **state)
{
	struct fixture *f = *state;
	unsigned char ticket[4096];
	size_t len;

	replica_up(f, &f->a, kek_a);
	assert_int_equal(ticket_share_sync(f->a.ts), 1);
	len = seal(f->a.tk, ticket, sizeof(ticket));
	assert_true(len > 0);
	assert_int_equal(store_target_exec(f->path, "UPDATE ticket_keys SET sealed ="
					   " substr(sealed, 1, 60) || CASE WHEN substr(sealed, 61, 1) = '0'"
					   " THEN '1' ELSE '0' END || substr(sealed, 62)"), 0);
	assert_int_equal(ticket_share_sync(f->a.ts), 0);
	assert_int_not_equal(open_copy(f->a.tk, ticket, len), 0);
	assert_int_equal(seal(f->a.tk, ticket, sizeof(ticket)), 0);
}

static void test_store_rows(void **state)
{
	struct fixture *f = *state;
	struct store_ticket_key k[3];
	char long_text[STORE_TICKET_SEALED_MAX + 1];

	replica_up(f, &f->a, kek_a);
	assert_int_equal(store_ticket_keys_newest(f->a.st, k, 3), 0);
	assert_int_equal(store_ticket_key_add(f->a.st, 1, "aa"), 1);
	assert_int_equal(store_ticket_key_add(f->a.st, 2, "bb"), 1);
	assert_int_equal(store_ticket_key_add(f->a.st, 2, "cc"), 0);
	assert_int_equal(store_ticket_key_add(f->a.st, 0, "cc"), -1);
	assert_int_equal(store_ticket_key_add(f->a.st, 3, ""), -1);
	memset(long_text, 'a', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	assert_int_equal(store_ticket_key_add(f->a.st, 3, long_text), -1);
	assert_int_equal(store_ticket_keys_newest(f->a.st, k, 3), 2);
	assert_int_equal(k[0].generation, 2);
	assert_string_equal(k[0].sealed, "bb");
	assert_int_equal(k[1].generation, 1);
	assert_true(k[0].now_ms >= k[0].created_ms && k[0].created_ms > 0);
	assert_int_equal(store_ticket_keys_newest(f->a.st, k, 1), 1);
	assert_int_equal(store_ticket_keys_prune(f->a.st, 2), 1);
	assert_int_equal(store_ticket_keys_newest(f->a.st, k, 3), 1);
	assert_int_equal(k[0].generation, 2);
}

/* The key-encryption key: the same from a copy of the state dir (as the
 * operator makes for a replica), another from another CA, another for
 * another label. */
static void test_kek_follows_the_ca_key(void **state)
{
	struct fixture *f = *state;
	char dir_a[128], dir_copy[128], dir_other[128], cmd[512], err[256];
	uint8_t a[TICKET_KEK_LEN], copy[TICKET_KEK_LEN], other[TICKET_KEK_LEN], label[TICKET_KEK_LEN];
	struct ca *ca;

	snprintf(dir_a, sizeof(dir_a), "%s/a", f->dir);
	snprintf(dir_copy, sizeof(dir_copy), "%s/copy", f->dir);
	snprintf(dir_other, sizeof(dir_other), "%s/other", f->dir);
	ca = ca_open(dir_a, NULL, 0, err, sizeof(err));
	assert_non_null(ca);
	assert_int_equal(ca_derive_key(ca, TICKET_KEK_LABEL, a, sizeof(a)), 0);
	assert_int_equal(ca_derive_key(ca, "another label", label, sizeof(label)), 0);
	ca_free(ca);
	snprintf(cmd, sizeof(cmd), "cp -a %s %s", dir_a, dir_copy);
	assert_int_equal(system(cmd), 0);
	ca = ca_open(dir_copy, NULL, 0, err, sizeof(err));
	assert_non_null(ca);
	assert_int_equal(ca_derive_key(ca, TICKET_KEK_LABEL, copy, sizeof(copy)), 0);
	ca_free(ca);
	ca = ca_open(dir_other, NULL, 0, err, sizeof(err));
	assert_non_null(ca);
	assert_int_equal(ca_derive_key(ca, TICKET_KEK_LABEL, other, sizeof(other)), 0);
	ca_free(ca);
	assert_memory_equal(a, copy, sizeof(a));
	assert_memory_not_equal(a, other, sizeof(a));
	assert_memory_not_equal(a, label, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_row_round_trip),
		cmocka_unit_test(test_row_refused),
		cmocka_unit_test_setup_teardown(test_kek_follows_the_ca_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replicas_resume_each_others_tickets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_makes_one_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_key_asks_for_a_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_ca_key_falls_back_and_adds_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tampered_row_is_dropped, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
