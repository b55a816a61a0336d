/* test_enroll.c — join tokens and enrollment against a real store and CA:
 * token format, single use, expiry, and no use taken by a refused CSR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pk.h>

#include "shared/pki.h"
#include "shared/util.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/enroll.h"
#include "tower/store/store.h"
#include "store_target.h"

struct fixture {
	char dir[64];
	char target[STORE_TARGET_MAX];
	struct store *st;
	struct ca *ca;
	mbedtls_pk_context key;
	char *csr;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/oc-enroll.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_target_make(f->dir, "tower.db", f->target, sizeof(f->target)), 0);
	f->st = store_open(f->target, err, sizeof(err));
	assert_non_null(f->st);
	f->ca = ca_open(f->dir, NULL, 0, err, sizeof(err));
	assert_non_null(f->ca);
	mbedtls_pk_init(&f->key);
	assert_int_equal(pki_key_generate(&f->key), 0);
	f->csr = pki_csr_create(&f->key, "node-host");
	assert_non_null(f->csr);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->csr);
	mbedtls_pk_free(&f->key);
	ca_free(f->ca);
	store_close(f->st);
	store_target_drop(f->target);
	util_remove_tree(f->dir);
	free(f);
	return 0;
}

static int enroll(struct fixture *f, const char *token, const char *csr, int64_t now,
		  char *node_id, char *err)
{
	char *cert = NULL;
	int rc = enroll_node(f->st, f->ca, token, csr, "host", now, 3600, node_id, 40, &cert,
			     err, 256);

	if (rc == 0) {
		assert_non_null(cert);
		assert_non_null(strstr(cert, "BEGIN CERTIFICATE"));
	} else {
		assert_null(cert);
	}
	free(cert);
	return rc;
}

static void test_token_format(void **state)
{
	struct fixture *f = *state;
	char token[ENROLL_TOKEN_LEN + 1], err[256];

	assert_int_equal(enroll_create_token(f->st, "k8s-worker", 3600, 1, token, err, sizeof(err)), 0);
	assert_int_equal(strlen(token), ENROLL_TOKEN_LEN);
	assert_int_equal(token[ENROLL_TOKEN_ID_HEX], '.');
	assert_int_equal(strspn(token, "0123456789abcdef."), ENROLL_TOKEN_LEN);
}

static void test_single_use(void **state)
{
	struct fixture *f = *state;
	char token[ENROLL_TOKEN_LEN + 1], err[256], id1[40], id2[40];
	struct store_node node;

	assert_int_equal(enroll_create_token(f->st, "edge-worker", 3600, 1, token, err, sizeof(err)), 0);
	assert_int_equal(enroll(f, token, f->csr, util_now(), id1, err), 0);
	assert_int_equal(strncmp(id1, "n-", 2), 0);
	assert_int_equal(store_node_get(f->st, id1, &node), 1);
	assert_string_equal(node.role, "edge-worker");
	assert_int_equal(enroll(f, token, f->csr, util_now(), id2, err), -1);
	assert_string_equal(err, "token already used");
}

static void test_multi_use(void **state)
{
	struct fixture *f = *state;
	char token[ENROLL_TOKEN_LEN + 1], err[256], a[40], b[40];

	assert_int_equal(enroll_create_token(f->st, "k8s-worker", 3600, 2, token, err, sizeof(err)), 0);
	assert_int_equal(enroll(f, token, f->csr, util_now(), a, err), 0);
	assert_int_equal(enroll(f, token, f->csr, util_now(), b, err), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(enroll(f, token, f->csr, util_now(), b, err), -1);
	assert_string_equal(err, "token already used");
}

static void test_expired(void **state)
{
	struct fixture *f = *state;
	char token[ENROLL_TOKEN_LEN + 1], err[256], id[40];

	assert_int_equal(enroll_create_token(f->st, "k8s-worker", 10, 1, token, err, sizeof(err)), 0);
	assert_int_equal(enroll(f, token, f->csr, util_now() + 11, id, err), -1);
	assert_string_equal(err, "token expired");
}

static void test_made_up(void **state)
{
	struct fixture *f = *state;
	char token[ENROLL_TOKEN_LEN + 1], err[256], id[40];
	static const char *const bad[] = {
		"", "x", "0123456789ab.0123456789abcdef0123456789abcdef",
		"0123456789ab-0123456789abcdef0123456789abcdef",
		"0123456789AB.0123456789abcdef0123456789abcdef",
		"0123456789ab.0123456789abcdef0123456789abcdef0",
	};

	for (size_t i = 0; i < OC_ARRAY_LEN(bad); i++) {
		assert_int_equal(enroll(f, bad[i], f->csr, util_now(), id, err), -1);
		assert_string_equal(err, "unknown token");
	}
	/* the right id with the wrong secret */
	assert_int_equal(enroll_create_token(f->st, "k8s-worker", 3600, 1, token, err, sizeof(err)), 0);
	token[ENROLL_TOKEN_LEN - 1] = token[ENROLL_TOKEN_LEN - 1] == '0' ? '1' : '0';
	assert_int_equal(enroll(f, token, f->csr, util_now(), id, err), -1);
	assert_string_equal(err, "unknown token");
}

static void test_bad_csr_keeps_token(void **state)
{
	struct fixture *f = *state;
	char token[ENROLL_TOKEN_LEN + 1], err[256], id[40];

	assert_int_equal(enroll_create_token(f->st, "k8s-worker", 3600, 1, token, err, sizeof(err)), 0);
	assert_int_equal(enroll(f, token, "-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n", util_now(),
				id, err), -1);
	assert_non_null(strstr(err, "csr"));
	/* the refused CSR took no use */
	assert_int_equal(enroll(f, token, f->csr, util_now(), id, err), 0);
}

static void test_token_limits(void **state)
{
	struct fixture *f = *state;
	char token[ENROLL_TOKEN_LEN + 1], err[256];

	assert_int_equal(enroll_create_token(f->st, "Bad Role", 3600, 1, token, err, sizeof(err)), -1);
	assert_int_equal(enroll_create_token(f->st, "", 3600, 1, token, err, sizeof(err)), -1);
	assert_int_equal(enroll_create_token(f->st, "-x", 3600, 1, token, err, sizeof(err)), -1);
	assert_int_equal(enroll_create_token(f->st, "w", 0, 1, token, err, sizeof(err)), -1);
	assert_int_equal(enroll_create_token(f->st, "w", 3600, 0, token, err, sizeof(err)), -1);
	assert_true(enroll_role_valid("k8s-master"));
	assert_false(enroll_role_valid("k8s_master"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_made_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_csr_keeps_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_limits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
