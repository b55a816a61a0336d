/* test_pki.c — keys, CSRs and pins (shared/pki.c) and the tower CA (tower/fleet/ca.c):
 * files and modes in the state dir, reuse and re-issue, and each CSR refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_csr.h>

#include "shared/log.h"
#include "shared/pki.h"
#include "shared/util.h"
#include "tower/fleet/ca.h"
#include "tower/fleet/p256_verify.h"

#define DAY 86400

static const char *const ca_files[] = {"ca.key", "ca.pem", "server.key", "server.pem"};

/* What a file looked like: a rewrite (temp file + rename) changes the inode. */
struct snap {
	char *data;
	size_t len;
	ino_t ino;
	struct timespec mtime;
	mode_t mode;
};

static int setup_dir(void **state)
{
	char *dir = strdup("/tmp/test_pki.XXXXXX");

	if (dir == NULL || mkdtemp(dir) == NULL)
		return -1;
	*state = dir;
	return 0;
}

static int teardown_dir(void **state)
{
	util_remove_tree(*state);
	free(*state);
	return 0;
}

static void path_in(char *out, size_t size, const char *dir, const char *name)
{
	assert_true((size_t)snprintf(out, size, "%s/%s", dir, name) < size);
}

static void snap_take(struct snap *s, const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	path_in(path, sizeof(path), dir, name);
	assert_int_equal(stat(path, &st), 0);
	s->data = util_read_file(path, 1 << 20, &s->len);
	assert_non_null(s->data);
	s->ino = st.st_ino;
	s->mtime = st.st_mtim;
	s->mode = st.st_mode & 07777;
}

static int snap_same(const struct snap *a, const struct snap *b)
{
	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0 && a->ino == b->ino &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void snap_all(struct snap s[4], const char *dir)
{
	for (size_t i = 0; i < OC_ARRAY_LEN(ca_files); i++)
		snap_take(&s[i], dir, ca_files[i]);
}

static void snap_free(struct snap s[4])
{
	for (size_t i = 0; i < OC_ARRAY_LEN(ca_files); i++)
		free(s[i].data);
}

static struct ca *open_ca(const char *dir, const char *const *extra, size_t count)
{
	char err[256] = "";
	struct ca *ca = ca_open(dir, extra, count, err, sizeof(err));

	if (ca == NULL)
		fail_msg("ca_open: %s", err);
	return ca;
}

/* A CSR (PEM, heap) for a fresh key of the given kind; the key goes to key_out
 * when that is not NULL. */
enum key_kind { KEY_P256, KEY_P384, KEY_RSA };

static char *make_csr(enum key_kind kind, const char *cn, mbedtls_pk_context *key_out)
{
	mbedtls_pk_context key;
	char *csr;

	mbedtls_pk_init(&key);
	if (kind == KEY_P256) {
		assert_int_equal(pki_key_generate(&key), 0);
	} else if (kind == KEY_P384) {
		assert_int_equal(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
		assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP384R1, mbedtls_pk_ec(key),
						     mbedtls_ctr_drbg_random, pki_rng()), 0);
	} else {
		assert_int_equal(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
		assert_int_equal(mbedtls_rsa_gen_key(mbedtls_pk_rsa(key), mbedtls_ctr_drbg_random,
						     pki_rng(), 1024, 65537), 0);
	}
	csr = pki_csr_create(&key, cn);
	assert_non_null(csr);
	if (key_out != NULL)
		*key_out = key;
	else
		mbedtls_pk_free(&key);
	return csr;
}

/* The DER of a PEM CSR, heap; *len gets its size. */
static unsigned char *csr_der(const char *pem, size_t *len)
{
	mbedtls_x509_csr csr;
	unsigned char *der;

	mbedtls_x509_csr_init(&csr);
	assert_int_equal(mbedtls_x509_csr_parse(&csr, (const unsigned char *)pem, strlen(pem) + 1), 0);
	der = malloc(csr.raw.len);
	assert_non_null(der);
	memcpy(der, csr.raw.p, csr.raw.len);
	*len = csr.raw.len;
	mbedtls_x509_csr_free(&csr);
	return der;
}

static void expect_refused(struct ca *ca, const char *csr, size_t len, const char *reason)
{
	char err[256] = "", serial[41];
	char *pem = (char *)"untouched";

	assert_int_equal(ca_sign_csr(ca, csr, len, "node-1", DAY, &pem, serial, sizeof(serial),
				     err, sizeof(err)), -1);
	assert_null(pem);
	assert_string_equal(err, reason);
}

static void test_key_roundtrip(void **state)
{
	const char *dir = *state;
	mbedtls_pk_context key, loaded;
	char path[512], err[256] = "";
	unsigned char a[200], b[200];
	struct stat st;
	int la, lb;

	mbedtls_pk_init(&key);
	mbedtls_pk_init(&loaded);
	path_in(path, sizeof(path), dir, "node.key");
	assert_int_equal(pki_key_generate(&key), 0);
	assert_int_equal(pki_key_save(&key, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(pki_key_load(&loaded, path, err, sizeof(err)), 0);
	assert_int_equal(mbedtls_pk_check_pair(&key, &loaded), 0);
	la = mbedtls_pk_write_pubkey_der(&key, a, sizeof(a));
	lb = mbedtls_pk_write_pubkey_der(&loaded, b, sizeof(b));
	assert_true(la > 0);
	assert_int_equal(la, lb);
	assert_memory_equal(a + sizeof(a) - la, b + sizeof(b) - lb, (size_t)la);
	mbedtls_pk_free(&loaded);
	mbedtls_pk_free(&key);
}

static void test_key_load_refuses_other_keys(void **state)
{
	const char *dir = *state;
	mbedtls_pk_context key, loaded;
	unsigned char pem[4096];
	char path[512], err[256] = "", want[600];

	/* RSA, written by mbedtls itself so the test needs no openssl binary. */
	mbedtls_pk_init(&key);
	mbedtls_pk_init(&loaded);
	assert_int_equal(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
	assert_int_equal(mbedtls_rsa_gen_key(mbedtls_pk_rsa(key), mbedtls_ctr_drbg_random,
					     pki_rng(), 1024, 65537), 0);
	assert_int_equal(mbedtls_pk_write_key_pem(&key, pem, sizeof(pem)), 0);
	path_in(path, sizeof(path), dir, "rsa.key");
	assert_int_equal(util_write_file(path, pem, strlen((char *)pem), 0600), 0);
	assert_int_equal(pki_key_load(&loaded, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: key is not ecdsa p-256", path);
	assert_string_equal(err, want);
	assert_int_equal(mbedtls_pk_get_type(&loaded), MBEDTLS_PK_NONE);
	mbedtls_pk_free(&key);

	/* EC, but P-384. */
	mbedtls_pk_init(&key);
	assert_int_equal(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP384R1, mbedtls_pk_ec(key),
					     mbedtls_ctr_drbg_random, pki_rng()), 0);
	assert_int_equal(pki_key_save(&key, path), 0);
	assert_int_equal(pki_key_load(&loaded, path, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	mbedtls_pk_free(&key);

	/* Not a key at all. */
	assert_int_equal(util_write_file(path, "hello\n", 6, 0600), 0);
	assert_int_equal(pki_key_load(&loaded, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a usable private key"));
	mbedtls_pk_free(&loaded);
}

static void test_sign_csr(void **state)
{
	const char *dir = *state;
	mbedtls_pk_context key;
	mbedtls_x509_crt crt;
	char err[256] = "", serial[41], hex[41], cn[65];
	char *csr, *pem = NULL;
	uint32_t flags = 0;
	int64_t now = util_now();
	struct ca *ca = open_ca(dir, NULL, 0);

	csr = make_csr(KEY_P256, "csr-says-admin", &key);
	assert_int_equal(ca_sign_csr(ca, csr, strlen(csr), "node-1", DAY, &pem, serial,
				     sizeof(serial), err, sizeof(err)), 0);
	assert_non_null(pem);
	mbedtls_x509_crt_init(&crt);
	assert_int_equal(mbedtls_x509_crt_parse(&crt, (unsigned char *)pem, strlen(pem) + 1), 0);
	assert_int_equal(mbedtls_x509_crt_verify(&crt, ca_cert(ca), NULL, NULL, &flags, NULL, NULL), 0);
	assert_int_equal(flags, 0);
	/* The name is the one the tower gives, never the CSR's. */
	assert_int_equal(pki_cert_cn(&crt, cn, sizeof(cn)), 0);
	assert_string_equal(cn, "node-1");
	assert_int_equal(pki_cert_serial_hex(&crt, hex, sizeof(hex)), 0);
	assert_string_equal(hex, serial);
	assert_in_range(strlen(serial), 2, 32);
	/* 16 random bytes with the top bit clear: no DER sign padding needed. */
	assert_in_range(crt.serial.len, 1, 16);
	assert_int_equal(crt.serial.p[0] & 0x80, 0);
	assert_int_equal(mbedtls_pk_check_pair(&crt.pk, &key), 0);
	assert_false(crt.ca_istrue);
	assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_CLIENT_AUTH,
					MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), 0);
	assert_int_not_equal(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
					MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), 0);
	assert_in_range(pki_cert_not_after(&crt), now + DAY - 5, now + DAY + 5);
	mbedtls_x509_crt_free(&crt);
	free(pem);

	/* The same CSR as DER works too, and serials differ. */
	{
		size_t len;
		unsigned char *der = csr_der(csr, &len);
		char serial2[41];

		assert_int_equal(ca_sign_csr(ca, (char *)der, len, "node-2", DAY, &pem, serial2,
					     sizeof(serial2), err, sizeof(err)), 0);
		assert_string_not_equal(serial, serial2);
		free(pem);
		free(der);
	}
	/* A common name the subject parser would misread is refused. */
	assert_int_equal(ca_sign_csr(ca, csr, strlen(csr), "node,O=admins", DAY, &pem, serial,
				     sizeof(serial), err, sizeof(err)), -1);
	assert_null(pem);
	free(csr);
	mbedtls_pk_free(&key);
	ca_free(ca);
}

static void test_spki_pin(void **state)
{
	const char *dir = *state;
	unsigned char der[200], digest[32];
	char pin[72], want[72], hex[65], path[512], err[256];
	mbedtls_pk_context ca_key;
	struct ca *ca = open_ca(dir, NULL, 0);
	int len;

	assert_int_equal(pki_spki_pin(ca_cert(ca), pin, sizeof(pin)), 0);
	assert_int_equal(strlen(pin), 71);
	assert_memory_equal(pin, "sha256:", 7);
	for (size_t i = 7; i < 71; i++)
		assert_non_null(strchr("0123456789abcdef", pin[i]));
	/* Independently: sha256 over the DER SubjectPublicKeyInfo of the CA key
	 * (from ca.key: the CA certificate's own key is prepared for verifying
	 * and cannot be written out). */
	mbedtls_pk_init(&ca_key);
	path_in(path, sizeof(path), dir, "ca.key");
	assert_int_equal(pki_key_load(&ca_key, path, err, sizeof(err)), 0);
	len = mbedtls_pk_write_pubkey_der(&ca_key, der, sizeof(der));
	mbedtls_pk_free(&ca_key);
	assert_true(len > 0);
	assert_int_equal(mbedtls_sha256_ret(der + sizeof(der) - len, (size_t)len, digest, 0), 0);
	util_hex(digest, sizeof(digest), hex);
	snprintf(want, sizeof(want), "sha256:%s", hex);
	assert_string_equal(pin, want);
	assert_string_equal(ca_pin(ca), want);
	assert_int_equal(pki_spki_pin(ca_cert(ca), pin, 71), -1);
	ca_free(ca);
}

static void test_ca_open_creates(void **state)
{
	const char *dir = *state;
	static const mode_t modes[] = {0600, 0644, 0600, 0644};
	mbedtls_x509_crt *chain;
	struct snap s[4];
	char cn[65];
	unsigned char digest[32] = {42}, sig[MBEDTLS_ECDSA_MAX_LEN];
	size_t sig_len;
	uint32_t flags = 0;
	struct ca *ca = open_ca(dir, NULL, 0);

	snap_all(s, dir);
	for (size_t i = 0; i < OC_ARRAY_LEN(ca_files); i++) {
		if (s[i].mode != modes[i])
			fail_msg("%s has mode %04o", ca_files[i], (unsigned int)s[i].mode);
	}
	assert_string_equal(ca_cert_pem(ca), s[1].data);
	assert_true(ca_cert(ca)->ca_istrue);
	assert_int_equal(pki_cert_cn(ca_cert(ca), cn, sizeof(cn)), 0);
	assert_string_equal(cn, "overcloud-ca");

	chain = ca_server_chain(ca);
	assert_int_equal(pki_cert_cn(chain, cn, sizeof(cn)), 0);
	assert_string_equal(cn, CA_SERVER_CN);
	assert_non_null(chain->next);
	assert_int_equal(chain->next->raw.len, ca_cert(ca)->raw.len);
	assert_memory_equal(chain->next->raw.p, ca_cert(ca)->raw.p, ca_cert(ca)->raw.len);
	/* The key the tower signs with belongs to the certificate it presents. */
	assert_int_equal(mbedtls_pk_sign(ca_server_key(ca), MBEDTLS_MD_SHA256, digest,
					 sizeof(digest), sig, &sig_len, mbedtls_ctr_drbg_random,
					 pki_rng()), 0);
	assert_int_equal(mbedtls_pk_verify(&chain->pk, MBEDTLS_MD_SHA256, digest, sizeof(digest),
					   sig, sig_len), 0);
	assert_int_equal(mbedtls_x509_crt_verify(chain, ca_cert(ca), NULL, "localhost", &flags,
						 NULL, NULL), 0);
	assert_int_equal(mbedtls_x509_crt_verify(chain, ca_cert(ca), NULL, CA_SERVER_CN, &flags,
						 NULL, NULL), 0);
	assert_int_not_equal(mbedtls_x509_crt_verify(chain, ca_cert(ca), NULL, "evil.example",
						     &flags, NULL, NULL), 0);
	assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(chain, MBEDTLS_OID_SERVER_AUTH,
					MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), 0);
	assert_in_range(pki_cert_not_after(chain), util_now() + 364 * DAY,
			util_now() + 366 * DAY);
	snap_free(s);
	ca_free(ca);
}

static void test_ca_open_reuses(void **state)
{
	const char *dir = *state;
	const char *extra[] = {"10.0.0.7", "tower.example.com"};
	struct snap before[4], after[4];
	struct ca *ca;

	ca_free(open_ca(dir, extra, 2));
	snap_all(before, dir);
	ca = open_ca(dir, extra, 2);
	snap_all(after, dir);
	for (size_t i = 0; i < OC_ARRAY_LEN(ca_files); i++) {
		if (!snap_same(&before[i], &after[i]))
			fail_msg("%s was rewritten by a second ca_open", ca_files[i]);
	}
	assert_string_equal(ca_cert_pem(ca), before[1].data);
	snap_free(after);
	ca_free(ca);
	/* The default SANs are all present already: naming one again changes nothing. */
	{
		const char *dup[] = {"::1", "LOCALHOST"};

		ca_free(open_ca(dir, dup, 2));
		snap_all(after, dir);
		for (size_t i = 0; i < OC_ARRAY_LEN(ca_files); i++)
			assert_true(snap_same(&before[i], &after[i]));
		snap_free(after);
	}
	snap_free(before);
}

static void test_extra_san_reissues_server_only(void **state)
{
	const char *dir = *state;
	const char *extra[] = {"tower.example.com", "192.0.2.10"};
	struct snap before[4], after[4];
	uint32_t flags = 0;
	struct ca *ca;

	ca_free(open_ca(dir, NULL, 0));
	snap_all(before, dir);
	ca = open_ca(dir, extra, 2);
	snap_all(after, dir);
	assert_true(snap_same(&before[0], &after[0]));
	assert_true(snap_same(&before[1], &after[1]));
	assert_false(snap_same(&before[2], &after[2]));
	assert_false(snap_same(&before[3], &after[3]));
	assert_int_equal(after[2].mode, 0600);
	assert_int_equal(after[3].mode, 0644);
	assert_int_equal(mbedtls_x509_crt_verify(ca_server_chain(ca), ca_cert(ca), NULL,
						 "tower.example.com", &flags, NULL, NULL), 0);
	ca_free(ca);
	snap_free(before);

	/* Same SANs again (the IP one included): nothing is re-issued. */
	ca_free(open_ca(dir, extra, 2));
	snap_all(before, dir);
	for (size_t i = 0; i < OC_ARRAY_LEN(ca_files); i++)
		assert_true(snap_same(&before[i], &after[i]));
	snap_free(before);
	snap_free(after);
}

/* The raw value of the subjectAltName extension of crt (points into crt). */
static void find_san_ext(const mbedtls_x509_crt *crt, unsigned char **val, size_t *val_len)
{
	unsigned char *p = crt->v3_ext.p, *end = p + crt->v3_ext.len, *ext_end;
	size_t len;

	/* v3_ext may or may not include the explicit [3] wrapper. */
	if (p < end && *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3))
		assert_int_equal(mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONTEXT_SPECIFIC |
						      MBEDTLS_ASN1_CONSTRUCTED | 3), 0);
	assert_int_equal(mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
					      MBEDTLS_ASN1_SEQUENCE), 0);
	while (p < end) {
		mbedtls_x509_buf oid;
		int critical = 0;

		assert_int_equal(mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED |
						      MBEDTLS_ASN1_SEQUENCE), 0);
		ext_end = p + len;
		assert_int_equal(mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID), 0);
		oid.p = p;
		p += oid.len;
		mbedtls_asn1_get_bool(&p, ext_end, &critical);
		assert_int_equal(mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING), 0);
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) == 0) {
			*val = p;
			*val_len = len;
			return;
		}
		p = ext_end;
	}
	fail_msg("server certificate has no subjectAltName");
}

/* Replaces server.pem with a cert for server.key, with the current SANs, signed
 * by the CA, that expires in days_left days. */
static void write_server_cert(const char *dir, struct ca *ca, int64_t days_left)
{
	mbedtls_x509write_cert w;
	mbedtls_pk_context ca_key, server_key;
	mbedtls_mpi serial;
	unsigned char *san = NULL, pem[4096];
	size_t san_len = 0;
	char path[512], err[256], from[15], until[15];
	time_t t;
	struct tm tm;

	find_san_ext(ca_server_chain(ca), &san, &san_len);
	mbedtls_pk_init(&ca_key);
	path_in(path, sizeof(path), dir, "ca.key");
	assert_int_equal(pki_key_load(&ca_key, path, err, sizeof(err)), 0);
	mbedtls_pk_init(&server_key);
	path_in(path, sizeof(path), dir, "server.key");
	assert_int_equal(pki_key_load(&server_key, path, err, sizeof(err)), 0);
	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&serial);
	assert_int_equal(mbedtls_mpi_lset(&serial, 4242), 0);
	t = (time_t)(util_now() - DAY);
	gmtime_r(&t, &tm);
	strftime(from, sizeof(from), "%Y%m%d%H%M%S", &tm);
	t = (time_t)(util_now() + days_left * DAY);
	gmtime_r(&t, &tm);
	strftime(until, sizeof(until), "%Y%m%d%H%M%S", &tm);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, &server_key);
	mbedtls_x509write_crt_set_issuer_key(&w, &ca_key);
	assert_int_equal(mbedtls_x509write_crt_set_serial(&w, &serial), 0);
	assert_int_equal(mbedtls_x509write_crt_set_validity(&w, from, until), 0);
	assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, "CN=" CA_SERVER_CN), 0);
	assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w, "CN=overcloud-ca"), 0);
	assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1), 0);
	assert_int_equal(mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
				MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san, san_len), 0);
	assert_int_equal(mbedtls_x509write_crt_pem(&w, pem, sizeof(pem), mbedtls_ctr_drbg_random,
						   pki_rng()), 0);
	path_in(path, sizeof(path), dir, "server.pem");
	assert_int_equal(util_write_file(path, pem, strlen((char *)pem), 0644), 0);
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&w);
	mbedtls_pk_free(&ca_key);
	mbedtls_pk_free(&server_key);
}

static void test_server_near_expiry_reissued(void **state)
{
	const char *dir = *state;
	struct snap before[4], after[4];
	struct ca *ca = open_ca(dir, NULL, 0);

	/* 60 days left: kept as it is (so the crafted cert itself is acceptable). */
	write_server_cert(dir, ca, 60);
	ca_free(ca);
	snap_all(before, dir);
	ca = open_ca(dir, NULL, 0);
	snap_all(after, dir);
	for (size_t i = 0; i < OC_ARRAY_LEN(ca_files); i++)
		assert_true(snap_same(&before[i], &after[i]));
	assert_in_range(pki_cert_not_after(ca_server_chain(ca)), util_now() + 59 * DAY,
			util_now() + 61 * DAY);
	snap_free(after);

	/* 10 days left: only the server files are re-issued, for a year. */
	write_server_cert(dir, ca, 10);
	ca_free(ca);
	snap_free(before);
	snap_all(before, dir);
	ca = open_ca(dir, NULL, 0);
	snap_all(after, dir);
	assert_true(snap_same(&before[0], &after[0]));
	assert_true(snap_same(&before[1], &after[1]));
	assert_false(snap_same(&before[3], &after[3]));
	assert_in_range(pki_cert_not_after(ca_server_chain(ca)), util_now() + 364 * DAY,
			util_now() + 366 * DAY);
	snap_free(after);
	snap_free(before);
	ca_free(ca);
}

static void test_csr_refusals(void **state)
{
	const char *dir = *state;
	struct ca *ca = open_ca(dir, NULL, 0);
	char *csr, *other, *hit;
	unsigned char *der;
	size_t len;

	/* Garbage, as text and as bytes. */
	expect_refused(ca, "hello, i am a csr", 17, "csr: not parseable");
	expect_refused(ca, "\x30\x82\xff\xff\x01\x02", 6, "csr: not parseable");
	expect_refused(ca, "", 0, "csr: empty");

	csr = make_csr(KEY_P256, "ignored-name", NULL);
	/* Truncated: half the PEM, and the DER without its last bytes. */
	expect_refused(ca, csr, strlen(csr) / 2, "csr: not parseable");
	der = csr_der(csr, &len);
	expect_refused(ca, (char *)der, len - 10, "csr: not parseable");

	/* Tampered: the signed subject changed after signing. */
	hit = memmem(der, len, "ignored-name", 12);
	assert_non_null(hit);
	hit[0] = 'I';
	expect_refused(ca, (char *)der, len, "csr: signature does not verify");
	hit[0] = 'i';
	/* Tampered: the last byte of the signature's s value. */
	der[len - 1] ^= 0x01;
	expect_refused(ca, (char *)der, len, "csr: signature does not verify");
	der[len - 1] ^= 0x01;
	/* Tampered: the public key swapped for another (valid) one. */
	{
		size_t olen;
		unsigned char *oder, *key;

		other = make_csr(KEY_P256, "ignored-name", NULL);
		oder = csr_der(other, &olen);
		/* The uncompressed P-256 point: BIT STRING 03 42 00 04 + 64 bytes. */
		hit = memmem(der, len, "\x03\x42\x00\x04", 4);
		key = memmem(oder, olen, "\x03\x42\x00\x04", 4);
		assert_non_null(hit);
		assert_non_null(key);
		memcpy(hit, key, 0x44);
		expect_refused(ca, (char *)der, len, "csr: signature does not verify");
		free(oder);
		free(other);
	}
	free(der);
	free(csr);

	/* Other keys, correctly self-signed. */
	csr = make_csr(KEY_RSA, "ignored-name", NULL);
	expect_refused(ca, csr, strlen(csr), "csr: key is not ecdsa p-256");
	free(csr);
	csr = make_csr(KEY_P384, "ignored-name", NULL);
	expect_refused(ca, csr, strlen(csr), "csr: key is not ecdsa p-256");
	free(csr);

	/* Oversized input is refused before parsing. */
	{
		char *big = calloc(1, 1 << 20);

		assert_non_null(big);
		expect_refused(ca, big, 1 << 20, "csr: larger than 16384 bytes");
		free(big);
	}
	ca_free(ca);
}

/* DER ECDSA-Sig-Value for the given r and s. */
static size_t der_sig(const mbedtls_mpi *r, const mbedtls_mpi *s, unsigned char *out, size_t size)
{
	unsigned char buf[160], *p = buf + sizeof(buf);
	int len = 0, n;

	assert_true((n = mbedtls_asn1_write_mpi(&p, buf, s)) > 0);
	len += n;
	assert_true((n = mbedtls_asn1_write_mpi(&p, buf, r)) > 0);
	len += n;
	assert_true((n = mbedtls_asn1_write_len(&p, buf, (size_t)len)) > 0);
	len += n;
	assert_true((n = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED |
						   MBEDTLS_ASN1_SEQUENCE)) > 0);
	len += n;
	assert_true((size_t)len <= size);
	memcpy(out, p, (size_t)len);
	return (size_t)len;
}

/* p256_verify_der with key's public point, as ca.c calls it. */
static int verify_with(const mbedtls_pk_context *key, const unsigned char *hash, size_t hash_len,
		       const unsigned char *sig, size_t sig_len)
{
	unsigned char point[P256_POINT_LEN];
	size_t point_len = 0;

	assert_int_equal(mbedtls_ecp_point_write_binary(&mbedtls_pk_ec(*key)->grp,
							&mbedtls_pk_ec(*key)->Q,
							MBEDTLS_ECP_PF_UNCOMPRESSED, &point_len,
							point, sizeof(point)), 0);
	assert_int_equal(point_len, sizeof(point));
	return p256_verify_der(point, hash, hash_len, sig, sig_len);
}

/* The prepared keys sign and verify like the plain ones and keep the curve
 * table they were built with; the CSR check (p256_verify_der) takes what
 * they sign and refuses every bent signature. */
static void test_prepared_keys(void **state)
{
	const char *dir = *state;
	mbedtls_pk_context key, signer, other, rsa;
	mbedtls_ecp_group grp;
	mbedtls_mpi zero, one, n;
	unsigned char hash[32] = {7}, wrong[32] = {8}, sig[MBEDTLS_ECDSA_MAX_LEN + 2];
	unsigned char bent[MBEDTLS_ECDSA_MAX_LEN + 2];
	const mbedtls_ecp_point *table;
	size_t len, blen;
	struct ca *ca;

	mbedtls_pk_init(&key);
	mbedtls_pk_init(&signer);
	mbedtls_pk_init(&other);
	mbedtls_pk_init(&rsa);
	mbedtls_ecp_group_init(&grp);
	assert_int_equal(pki_key_generate(&key), 0);
	assert_int_equal(pki_key_generate(&other), 0);
	assert_int_equal(pki_key_signer(&signer, &key), 0);
	assert_int_equal(mbedtls_pk_get_type(&signer), MBEDTLS_PK_ECDSA);
	table = mbedtls_pk_ec(signer)->grp.T;
	assert_non_null(table);
	assert_int_equal(mbedtls_pk_sign(&signer, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, &len,
					 mbedtls_ctr_drbg_random, pki_rng()), 0);
	assert_ptr_equal(mbedtls_pk_ec(signer)->grp.T, table);
	assert_int_equal(mbedtls_pk_verify(&key, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, len), 0);
	assert_int_not_equal(mbedtls_pk_verify(&other, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig,
					       len), 0);

	assert_int_equal(mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1), 0);
	assert_int_equal(verify_with(&key, hash, sizeof(hash), sig, len), 0);
	assert_int_equal(verify_with(&key, wrong, sizeof(wrong), sig, len), -1);
	assert_int_equal(verify_with(&other, hash, sizeof(hash), sig,
					len), -1);
	assert_int_equal(verify_with(&key, hash, sizeof(hash), NULL, 0), -1);
	assert_int_equal(verify_with(&key, hash, sizeof(hash), sig, 0), -1);
	assert_int_equal(verify_with(&key, hash, sizeof(hash), sig, len - 1), -1);
	memcpy(bent, sig, len);
	bent[len] = 0;				/* a byte after the sequence */
	assert_int_equal(verify_with(&key, hash, sizeof(hash), bent, len + 1), -1);
	bent[0] = 0x31;				/* a set, not a sequence */
	assert_int_equal(verify_with(&key, hash, sizeof(hash), bent, len), -1);
	memcpy(bent, sig, len);
	bent[1]++;				/* the sequence claims a byte more */
	assert_int_equal(verify_with(&key, hash, sizeof(hash), bent, len), -1);
	memcpy(bent, sig, len);
	bent[len - 1] ^= 1;			/* s changed */
	assert_int_equal(verify_with(&key, hash, sizeof(hash), bent, len), -1);
	/* r or s out of [1, n-1] */
	mbedtls_mpi_init(&zero);
	mbedtls_mpi_init(&one);
	mbedtls_mpi_init(&n);
	assert_int_equal(mbedtls_mpi_lset(&zero, 0), 0);
	assert_int_equal(mbedtls_mpi_lset(&one, 1), 0);
	assert_int_equal(mbedtls_mpi_copy(&n, &grp.N), 0);
	blen = der_sig(&zero, &one, bent, sizeof(bent));
	assert_int_equal(verify_with(&key, hash, sizeof(hash), bent, blen), -1);
	blen = der_sig(&one, &n, bent, sizeof(bent));
	assert_int_equal(verify_with(&key, hash, sizeof(hash), bent, blen), -1);
	mbedtls_mpi_free(&n);
	mbedtls_mpi_free(&one);
	mbedtls_mpi_free(&zero);
	/* a hash of no SHA-2 length */
	assert_int_equal(verify_with(&key, hash, sizeof(hash) - 1, sig, len), -1);
	assert_int_equal(verify_with(&key, hash, sizeof(hash), sig, len), 0);

	/* only EC keys */
	assert_int_equal(mbedtls_pk_setup(&rsa, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
	mbedtls_pk_free(&signer);
	mbedtls_pk_init(&signer);
	assert_int_equal(pki_key_signer(&signer, &rsa), -1);
	assert_int_equal(mbedtls_pk_get_type(&signer), MBEDTLS_PK_NONE);

	/* the CA certificate's key is prepared (test_sign_csr verifies under it) */
	ca = open_ca(dir, NULL, 0);
	assert_int_equal(mbedtls_pk_get_type(&ca_cert(ca)->pk), MBEDTLS_PK_ECDSA);
	assert_non_null(mbedtls_pk_ec(ca_cert(ca)->pk)->grp.T);
	ca_free(ca);

	mbedtls_ecp_group_free(&grp);
	mbedtls_pk_free(&rsa);
	mbedtls_pk_free(&other);
	mbedtls_pk_free(&signer);
	mbedtls_pk_free(&key);
}

static void test_ca_key_mode_refused(void **state)
{
	const char *dir = *state;
	char path[512], err[256] = "";
	struct ca *ca;

	ca_free(open_ca(dir, NULL, 0));
	path_in(path, sizeof(path), dir, "ca.key");
	assert_int_equal(chmod(path, 0644), 0);
	ca = ca_open(dir, NULL, 0, err, sizeof(err));
	assert_null(ca);
	assert_non_null(strstr(err, "ca.key: mode 0644 is too open for a private key"));
	assert_int_equal(chmod(path, 0640), 0);
	assert_null(ca_open(dir, NULL, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "mode 0640"));
	assert_int_equal(chmod(path, 0600), 0);
	ca_free(open_ca(dir, NULL, 0));

	/* server.key too. */
	path_in(path, sizeof(path), dir, "server.key");
	assert_int_equal(chmod(path, 0604), 0);
	assert_null(ca_open(dir, NULL, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "server.key: mode 0604 is too open"));
}

static void test_half_a_ca_refused(void **state)
{
	const char *dir = *state;
	char key_path[512], pem_path[512], moved[512], err[256] = "";
	struct snap before;

	ca_free(open_ca(dir, NULL, 0));
	path_in(key_path, sizeof(key_path), dir, "ca.key");
	path_in(pem_path, sizeof(pem_path), dir, "ca.pem");
	path_in(moved, sizeof(moved), dir, "ca.pem.saved");

	/* ca.key without ca.pem: no new CA over the old key. */
	snap_take(&before, dir, "ca.key");
	assert_int_equal(rename(pem_path, moved), 0);
	assert_null(ca_open(dir, NULL, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "ca.key exists but"));
	assert_non_null(strstr(err, "refusing to replace the ca"));
	{
		struct snap now;

		snap_take(&now, dir, "ca.key");
		assert_true(snap_same(&before, &now));
		free(now.data);
	}
	assert_int_not_equal(access(pem_path, F_OK), 0);
	free(before.data);

	/* ca.pem without ca.key. */
	assert_int_equal(rename(moved, pem_path), 0);
	assert_int_equal(rename(key_path, moved), 0);
	assert_null(ca_open(dir, NULL, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "ca.pem exists but"));
	assert_int_not_equal(access(key_path, F_OK), 0);

	/* Restored: opens again. */
	assert_int_equal(rename(moved, key_path), 0);
	ca_free(open_ca(dir, NULL, 0));
}

static void test_bad_extra_san_refused(void **state)
{
	const char *dir = *state;
	const char *bad[] = {"tower example"};
	char err[256] = "";

	assert_null(ca_open(dir, bad, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "neither an ip address nor a dns name"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_roundtrip, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_key_load_refuses_other_keys, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_sign_csr, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_spki_pin, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_ca_open_creates, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_ca_open_reuses, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_extra_san_reissues_server_only, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_server_near_expiry_reissued, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_csr_refusals, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_prepared_keys, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_ca_key_mode_refused, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_half_a_ca_refused, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_bad_extra_san_refused, setup_dir, teardown_dir),
	};

	log_set_level(OC_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
