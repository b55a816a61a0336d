/* ca.c — the tower's certificate authority: ca.key/ca.pem and the tower's
 * server.key/server.pem in the state dir, and signing of agents' CSRs. */
#include "tower/fleet/ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_csr.h>

#include "shared/log.h"
#include "shared/pki.h"
#include "shared/util.h"
#include "tower/fleet/p256_verify.h"

#define CA_CN "overcloud-ca"
#define CA_DAY 86400
#define CA_VALIDITY_S ((int64_t)3650 * CA_DAY)
#define CA_SERVER_VALIDITY_S ((int64_t)365 * CA_DAY)
#define CA_SERVER_RENEW_S ((int64_t)30 * CA_DAY)
#define CA_BACKDATE_S 300
#define CA_SERIAL_LEN 16
#define CA_CSR_MAX 16384		/* a P-256 CSR is ~400 bytes of PEM */
#define CA_PEM_FILE_MAX 65536
#define CA_CERT_PEM_MAX 32768
#define CA_CN_MAX 64			/* X.520 ub-common-name */
#define CA_DNS_MAX 253
#define CA_EXTRA_SANS_MAX 32
#define CA_SAN_DER_MAX (8 + (CA_EXTRA_SANS_MAX + 4) * (CA_DNS_MAX + 4))

#define CA_SAN_DNS 2			/* GeneralName dNSName [2] IA5String */
#define CA_SAN_IP 7			/* GeneralName iPAddress [7] OCTET STRING */

/* The *_signer keys and cert's key are prepared (pki.h) to skip mbedtls's
 * per-use curve table: the enrollment of an agent signs twice; its CSR's
 * signature is checked by p256_verify.c. */
struct ca {
	mbedtls_pk_context key;
	mbedtls_pk_context key_signer;
	mbedtls_x509_crt cert;
	char *cert_pem;
	char pin[72];
	mbedtls_x509_crt server_chain;
	mbedtls_pk_context server_key;
	mbedtls_pk_context server_signer;
};

struct ca_san {
	int type;			/* CA_SAN_DNS or CA_SAN_IP */
	const unsigned char *data;	/* the DNS name, or ip below */
	size_t len;
	unsigned char ip[16];
};

enum ca_kind { CA_KIND_CA, CA_KIND_SERVER, CA_KIND_CLIENT };

/* Everything one certificate needs; ca_write_cert turns it into PEM. */
struct ca_issue {
	enum ca_kind kind;
	mbedtls_pk_context *subject_key;
	const char *subject_cn;
	mbedtls_pk_context *issuer_key;
	mbedtls_pk_context *issuer_signer;	/* signs; issuer_key when NULL */
	const char *issuer_cn;
	int64_t not_before;
	int64_t not_after;
	const struct ca_san *sans;
	size_t san_count;
};

static int ca_path(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* A CN that x509_string_to_names takes literally: no ',' or '\', printable. */
static int ca_cn_ok(const char *cn)
{
	size_t len = strlen(cn);

	if (len == 0 || len > CA_CN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (cn[i] < 0x20 || cn[i] > 0x7e || cn[i] == ',' || cn[i] == '\\')
			return 0;
	}
	return 1;
}

static int ca_key_is_p256(const mbedtls_pk_context *pk)
{
	if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY)
		return 0;
	return mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

static int ca_time(int64_t t, char out[15])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 < 1950 || tm.tm_year + 1900 > 9999)
		return -1;
	return strftime(out, 15, "%Y%m%d%H%M%S", &tm) == 14 ? 0 : -1;
}

/* 16 random bytes, top bit cleared so the DER INTEGER is positive. */
static int ca_serial(mbedtls_mpi *serial, char *hex, size_t hex_size)
{
	unsigned char raw[CA_SERIAL_LEN];
	size_t len;
	int ret = -1;

	if (mbedtls_ctr_drbg_random(pki_rng(), raw, sizeof(raw)) != 0)
		goto out;
	raw[0] &= 0x7f;
	if (mbedtls_mpi_read_binary(serial, raw, sizeof(raw)) != 0)
		goto out;
	if (mbedtls_mpi_cmp_int(serial, 0) == 0 && mbedtls_mpi_lset(serial, 1) != 0)
		goto out;
	/* Minimal big-endian bytes: what the DER INTEGER and pki_cert_serial_hex show. */
	len = mbedtls_mpi_size(serial);
	if (hex_size < 2 * len + 1 || mbedtls_mpi_write_binary(serial, raw, len) != 0)
		goto out;
	util_hex(raw, len, hex);
	ret = 0;
out:
	mbedtls_platform_zeroize(raw, sizeof(raw));
	return ret;
}

/* SubjectAltName ::= SEQUENCE OF GeneralName, written backwards into buf. */
static int ca_der_san(const struct ca_san *sans, size_t count, unsigned char *buf,
		      size_t size, unsigned char **start)
{
	unsigned char *p = buf + size;
	size_t len = 0;
	int ret;

	for (size_t i = count; i-- > 0;) {
		size_t one = 0;

		MBEDTLS_ASN1_CHK_ADD(one, mbedtls_asn1_write_raw_buffer(&p, buf, sans[i].data,
									 sans[i].len));
		MBEDTLS_ASN1_CHK_ADD(one, mbedtls_asn1_write_len(&p, buf, one));
		MBEDTLS_ASN1_CHK_ADD(one, mbedtls_asn1_write_tag(&p, buf,
					MBEDTLS_ASN1_CONTEXT_SPECIFIC | sans[i].type));
		len += one;
	}
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf,
				MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	*start = p;
	return (int)len;
}

/* ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId, with one purpose. */
static int ca_der_eku(const char *oid, size_t oid_len, unsigned char *buf, size_t size,
		      unsigned char **start)
{
	unsigned char *p = buf + size;
	size_t len = 0;
	int ret;

	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(&p, buf, oid, oid_len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf,
				MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	*start = p;
	return (int)len;
}

#define CA_OID(oid) oid, MBEDTLS_OID_SIZE(oid)

static int ca_set_ext(mbedtls_x509write_cert *crt, const char *oid, size_t oid_len,
		      const unsigned char *der, int len)
{
	if (len < 0 || mbedtls_x509write_crt_set_extension(crt, oid, oid_len, 0, der,
							    (size_t)len) != 0)
		return -1;
	return 0;
}

static int ca_set_extensions(mbedtls_x509write_cert *crt, const struct ca_issue *is)
{
	unsigned char eku[32], *san = NULL, *start = NULL;
	unsigned int usage;
	int len, ret = -1;

	if (is->kind == CA_KIND_CA) {
		usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN;
		if (mbedtls_x509write_crt_set_basic_constraints(crt, 1, 0) != 0 ||
		    mbedtls_x509write_crt_set_key_usage(crt, usage) != 0)
			goto out;
	} else {
		usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
		if (mbedtls_x509write_crt_set_basic_constraints(crt, 0, -1) != 0 ||
		    mbedtls_x509write_crt_set_key_usage(crt, usage) != 0)
			goto out;
		if (is->kind == CA_KIND_SERVER)
			len = ca_der_eku(CA_OID(MBEDTLS_OID_SERVER_AUTH), eku, sizeof(eku), &start);
		else
			len = ca_der_eku(CA_OID(MBEDTLS_OID_CLIENT_AUTH), eku, sizeof(eku), &start);
		if (ca_set_ext(crt, CA_OID(MBEDTLS_OID_EXTENDED_KEY_USAGE), start, len) != 0)
			goto out;
	}
	if (is->san_count > 0) {
		san = malloc(CA_SAN_DER_MAX);
		if (san == NULL)
			goto out;
		len = ca_der_san(is->sans, is->san_count, san, CA_SAN_DER_MAX, &start);
		if (ca_set_ext(crt, CA_OID(MBEDTLS_OID_SUBJECT_ALT_NAME), start, len) != 0)
			goto out;
	}
	if (mbedtls_x509write_crt_set_subject_key_identifier(crt) != 0 ||
	    mbedtls_x509write_crt_set_authority_key_identifier(crt) != 0)
		goto out;
	ret = 0;
out:
	free(san);
	return ret;
}

/* PEM of a new certificate (heap; caller frees) and its serial as hex, or NULL. */
static char *ca_write_cert(const struct ca_issue *is, char *serial_hex, size_t serial_size,
			   char *err, size_t err_size)
{
	mbedtls_x509write_cert crt;
	mbedtls_mpi serial;
	char subject[4 + CA_CN_MAX], issuer[4 + CA_CN_MAX], from[15], until[15], msg[128];
	unsigned char *pem = NULL;
	char *out = NULL;
	int ret;

	mbedtls_x509write_crt_init(&crt);
	mbedtls_mpi_init(&serial);
	if (!ca_cn_ok(is->subject_cn) || !ca_cn_ok(is->issuer_cn)) {
		snprintf(err, err_size, "common name is empty, too long or has ',' or '\\'");
		goto fail;
	}
	snprintf(subject, sizeof(subject), "CN=%s", is->subject_cn);
	snprintf(issuer, sizeof(issuer), "CN=%s", is->issuer_cn);
	if (ca_time(is->not_before, from) != 0 || ca_time(is->not_after, until) != 0) {
		snprintf(err, err_size, "validity period out of range");
		goto fail;
	}
	if (ca_serial(&serial, serial_hex, serial_size) != 0) {
		snprintf(err, err_size, "cannot make a serial number");
		goto fail;
	}
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, is->subject_key);
	mbedtls_x509write_crt_set_issuer_key(&crt, is->issuer_key);
	if ((ret = mbedtls_x509write_crt_set_serial(&crt, &serial)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_validity(&crt, from, until)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_subject_name(&crt, subject)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_issuer_name(&crt, issuer)) != 0) {
		snprintf(err, err_size, "cannot build certificate: %s",
			 pki_strerror(ret, msg, sizeof(msg)));
		goto fail;
	}
	if (ca_set_extensions(&crt, is) != 0) {
		snprintf(err, err_size, "cannot build certificate extensions");
		goto fail;
	}
	pem = malloc(CA_CERT_PEM_MAX);
	if (pem == NULL) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	/* Set only now: the authority key identifier above needs issuer_key's
	 * generic type, which the signer lacks. */
	if (is->issuer_signer != NULL)
		mbedtls_x509write_crt_set_issuer_key(&crt, is->issuer_signer);
	ret = mbedtls_x509write_crt_pem(&crt, pem, CA_CERT_PEM_MAX, mbedtls_ctr_drbg_random,
					pki_rng());
	if (ret != 0) {
		snprintf(err, err_size, "cannot sign certificate: %s",
			 pki_strerror(ret, msg, sizeof(msg)));
		goto fail;
	}
	out = strdup((char *)pem);
	if (out == NULL)
		snprintf(err, err_size, "out of memory");
fail:
	free(pem);
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&crt);
	return out;
}

/* 1 when path exists, 0 when it does not, -1 (with err) when stat fails. */
static int ca_exists(const char *path, char *err, size_t err_size)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	snprintf(err, err_size, "%s: %s", path, strerror(errno));
	return -1;
}

/* Like ssh: a private key that group or others may touch is not used. */
static int ca_check_key_mode(const char *path, char *err, size_t err_size)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_size, "%s: not a regular file", path);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, err_size, "%s: mode %04o is too open for a private key "
			 "(chmod 600 it)", path, (unsigned int)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Parses a whole PEM file into crt (appending). Returns 0 or -1 with err. */
static int ca_parse_pem_file(mbedtls_x509_crt *crt, const char *path, char **text,
			     char *err, size_t err_size)
{
	char msg[128];
	char *pem;
	size_t len;
	int ret;

	pem = util_read_file(path, CA_PEM_FILE_MAX, &len);
	if (pem == NULL) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	ret = mbedtls_x509_crt_parse(crt, (unsigned char *)pem, len + 1);
	if (ret != 0) {
		snprintf(err, err_size, "%s: not a pem certificate: %s", path,
			 pki_strerror(ret, msg, sizeof(msg)));
		free(pem);
		return -1;
	}
	if (text != NULL)
		*text = pem;
	else
		free(pem);
	return 0;
}

static int ca_create_ca(const char *key_path, const char *pem_path, char *err, size_t err_size)
{
	mbedtls_pk_context key;
	struct ca_issue is = { .kind = CA_KIND_CA, .subject_cn = CA_CN, .issuer_cn = CA_CN };
	char serial[41];
	char *pem = NULL;
	int64_t now = util_now();
	int ret = -1;

	mbedtls_pk_init(&key);
	if (pki_key_generate(&key) != 0) {
		snprintf(err, err_size, "cannot generate the ca key");
		goto fail;
	}
	is.subject_key = &key;
	is.issuer_key = &key;
	is.not_before = now - CA_BACKDATE_S;
	is.not_after = now + CA_VALIDITY_S;
	pem = ca_write_cert(&is, serial, sizeof(serial), err, err_size);
	if (pem == NULL)
		goto fail;
	if (pki_key_save(&key, key_path) != 0) {
		snprintf(err, err_size, "%s: cannot write: %s", key_path, strerror(errno));
		goto fail;
	}
	if (util_write_file(pem_path, pem, strlen(pem), 0644) != 0) {
		snprintf(err, err_size, "%s: cannot write: %s", pem_path, strerror(errno));
		goto fail;
	}
	ret = 0;
fail:
	free(pem);
	mbedtls_pk_free(&key);
	return ret;
}

/* Loads ca.key + ca.pem, creating both when both are missing. */
static int ca_load_ca(struct ca *ca, const char *dir, char *err, size_t err_size)
{
	char key_path[PATH_MAX], pem_path[PATH_MAX];
	int have_key, have_pem, created = 0;

	if (ca_path(key_path, sizeof(key_path), dir, "ca.key") != 0 ||
	    ca_path(pem_path, sizeof(pem_path), dir, "ca.pem") != 0) {
		snprintf(err, err_size, "%s: path too long", dir);
		return -1;
	}
	if ((have_key = ca_exists(key_path, err, err_size)) < 0 ||
	    (have_pem = ca_exists(pem_path, err, err_size)) < 0)
		return -1;
	if (have_key != have_pem) {
		snprintf(err, err_size, "%s exists but %s is missing; refusing to replace the ca "
			 "(restore the missing file, or remove both to start a new ca)",
			 have_key ? key_path : pem_path, have_key ? pem_path : key_path);
		return -1;
	}
	if (!have_key) {
		if (ca_create_ca(key_path, pem_path, err, err_size) != 0)
			return -1;
		created = 1;
	}
	if (ca_check_key_mode(key_path, err, err_size) != 0 ||
	    pki_key_load(&ca->key, key_path, err, err_size) != 0 ||
	    ca_parse_pem_file(&ca->cert, pem_path, &ca->cert_pem, err, err_size) != 0)
		return -1;
	if (!ca_key_is_p256(&ca->cert.pk) || mbedtls_pk_check_pair(&ca->cert.pk, &ca->key) != 0) {
		snprintf(err, err_size, "%s does not hold the public key of %s", pem_path,
			 key_path);
		return -1;
	}
	if (!ca->cert.ca_istrue) {
		snprintf(err, err_size, "%s is not a ca certificate", pem_path);
		return -1;
	}
	if (pki_key_signer(&ca->key_signer, &ca->key) != 0 || pki_crt_prepare(&ca->cert) != 0) {
		snprintf(err, err_size, "%s: cannot prepare the key for signing", key_path);
		return -1;
	}
	if (pki_spki_pin(&ca->cert, ca->pin, sizeof(ca->pin)) != 0) {
		snprintf(err, err_size, "%s: cannot compute the pin", pem_path);
		return -1;
	}
	if (pki_cert_not_after(&ca->cert) < util_now() + CA_SERVER_RENEW_S)
		log_warn("ca: %s expires in under 30 days; it is never replaced automatically",
			 pem_path);
	if (created)
		log_info("ca: created a new ca in %s, pin %s", dir, ca->pin);
	return 0;
}

static int ca_san_equal(const struct ca_san *a, const struct ca_san *b)
{
	if (a->type != b->type || a->len != b->len)
		return 0;
	if (a->type == CA_SAN_DNS)
		return strncasecmp((const char *)a->data, (const char *)b->data, a->len) == 0;
	return memcmp(a->data, b->data, a->len) == 0;
}

static int ca_cert_has_san(const mbedtls_x509_crt *crt, const struct ca_san *san)
{
	const mbedtls_x509_sequence *cur;

	if (!(crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME))
		return 0;
	for (cur = &crt->subject_alt_names; cur != NULL; cur = cur->next) {
		/* Primitive context tags [2] and [7] become CA_SAN_DNS and CA_SAN_IP. */
		struct ca_san have = {
			.type = cur->buf.tag ^ MBEDTLS_ASN1_CONTEXT_SPECIFIC,
			.data = cur->buf.p,
			.len = cur->buf.len,
		};

		if (ca_san_equal(&have, san))
			return 1;
	}
	return 0;
}

/* Why the loaded server cert must be re-issued, or NULL when it is fine. */
static const char *ca_server_stale(struct ca *ca, const struct ca_san *sans, size_t count)
{
	mbedtls_x509_crt *crt = &ca->server_chain;
	uint32_t flags = 0;

	if (mbedtls_pk_check_pair(&crt->pk, &ca->server_key) != 0)
		return "server.pem does not match server.key";
	if (mbedtls_x509_crt_verify(crt, &ca->cert, NULL, NULL, &flags, NULL, NULL) != 0)
		return "server.pem is not valid under ca.pem";
	if (pki_cert_not_after(crt) - util_now() < CA_SERVER_RENEW_S)
		return "server.pem expires in under 30 days";
	for (size_t i = 0; i < count; i++) {
		if (!ca_cert_has_san(crt, &sans[i]))
			return "server.pem lacks a wanted subject alt name";
	}
	return NULL;
}

static int ca_issue_server(struct ca *ca, const char *key_path, const char *pem_path,
			   const struct ca_san *sans, size_t count, char *err, size_t err_size)
{
	mbedtls_pk_context key;
	struct ca_issue is = { .kind = CA_KIND_SERVER, .subject_cn = CA_SERVER_CN };
	char serial[41], issuer_cn[CA_CN_MAX + 1];
	char *pem = NULL;
	int64_t now = util_now(), ca_until = pki_cert_not_after(&ca->cert);
	int ret = -1;

	mbedtls_pk_init(&key);
	if (pki_cert_cn(&ca->cert, issuer_cn, sizeof(issuer_cn)) != 0) {
		snprintf(err, err_size, "ca.pem has no usable common name");
		goto fail;
	}
	if (pki_key_generate(&key) != 0) {
		snprintf(err, err_size, "cannot generate the server key");
		goto fail;
	}
	is.subject_key = &key;
	is.issuer_key = &ca->key;
	is.issuer_signer = &ca->key_signer;
	is.issuer_cn = issuer_cn;
	is.not_before = now - CA_BACKDATE_S;
	is.not_after = now + CA_SERVER_VALIDITY_S;
	if (is.not_after > ca_until)
		is.not_after = ca_until;
	is.sans = sans;
	is.san_count = count;
	pem = ca_write_cert(&is, serial, sizeof(serial), err, err_size);
	if (pem == NULL)
		goto fail;
	/* Key first: a crash in between leaves a mismatch, which re-issues. */
	if (pki_key_save(&key, key_path) != 0) {
		snprintf(err, err_size, "%s: cannot write: %s", key_path, strerror(errno));
		goto fail;
	}
	if (util_write_file(pem_path, pem, strlen(pem), 0644) != 0) {
		snprintf(err, err_size, "%s: cannot write: %s", pem_path, strerror(errno));
		goto fail;
	}
	ret = 0;
fail:
	free(pem);
	mbedtls_pk_free(&key);
	return ret;
}

/* Loads server.key + server.pem into ca; returns 1 when both load, 0 when either is
 * missing or unreadable (so re-issue), -1 with err on a hard error. */
static int ca_try_server(struct ca *ca, const char *key_path, const char *pem_path,
			 const char **why, char *err, size_t err_size)
{
	char ignored[256];
	int have_key, have_pem;

	mbedtls_pk_free(&ca->server_key);
	mbedtls_pk_init(&ca->server_key);
	mbedtls_x509_crt_free(&ca->server_chain);
	mbedtls_x509_crt_init(&ca->server_chain);
	if ((have_key = ca_exists(key_path, err, err_size)) < 0 ||
	    (have_pem = ca_exists(pem_path, err, err_size)) < 0)
		return -1;
	if (have_key && ca_check_key_mode(key_path, err, err_size) != 0)
		return -1;
	if (!have_key || !have_pem) {
		*why = "server.key or server.pem is missing";
		return 0;
	}
	if (pki_key_load(&ca->server_key, key_path, ignored, sizeof(ignored)) != 0) {
		*why = "server.key is not a usable key";
		return 0;
	}
	if (ca_parse_pem_file(&ca->server_chain, pem_path, NULL, ignored, sizeof(ignored)) != 0) {
		*why = "server.pem is not a usable certificate";
		return 0;
	}
	return 1;
}

static int ca_load_server(struct ca *ca, const char *dir, const struct ca_san *sans,
			  size_t count, char *err, size_t err_size)
{
	char key_path[PATH_MAX], pem_path[PATH_MAX];
	const char *why = NULL;
	char msg[128];
	int ret;

	if (ca_path(key_path, sizeof(key_path), dir, "server.key") != 0 ||
	    ca_path(pem_path, sizeof(pem_path), dir, "server.pem") != 0) {
		snprintf(err, err_size, "%s: path too long", dir);
		return -1;
	}
	ret = ca_try_server(ca, key_path, pem_path, &why, err, err_size);
	if (ret < 0)
		return -1;
	if (ret == 1)
		why = ca_server_stale(ca, sans, count);
	if (why != NULL) {
		log_info("ca: issuing a new server certificate: %s", why);
		if (ca_issue_server(ca, key_path, pem_path, sans, count, err, err_size) != 0)
			return -1;
		if (ca_try_server(ca, key_path, pem_path, &why, err, err_size) != 1 ||
		    (why = ca_server_stale(ca, sans, count)) != NULL) {
			snprintf(err, err_size, "new server certificate unusable: %s",
				 why != NULL ? why : "cannot load it");
			return -1;
		}
	}
	/* The chain the tower presents: server cert, then the CA. */
	ret = mbedtls_x509_crt_parse_der(&ca->server_chain, ca->cert.raw.p, ca->cert.raw.len);
	if (ret != 0) {
		snprintf(err, err_size, "cannot build the server chain: %s",
			 pki_strerror(ret, msg, sizeof(msg)));
		return -1;
	}
	if (pki_key_signer(&ca->server_signer, &ca->server_key) != 0) {
		snprintf(err, err_size, "%s: cannot prepare the key for signing", key_path);
		return -1;
	}
	return 0;
}

static int ca_san_parse(const char *text, struct ca_san *san, char *err, size_t err_size)
{
	size_t len = strlen(text);

	memset(san, 0, sizeof(*san));
	if (inet_pton(AF_INET, text, san->ip) == 1) {
		san->type = CA_SAN_IP;
		san->len = 4;
		san->data = san->ip;
		return 0;
	}
	if (inet_pton(AF_INET6, text, san->ip) == 1) {
		san->type = CA_SAN_IP;
		san->len = 16;
		san->data = san->ip;
		return 0;
	}
	if (len == 0 || len > CA_DNS_MAX)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c == '*'))
			goto bad;
	}
	san->type = CA_SAN_DNS;
	san->len = len;
	san->data = (const unsigned char *)text;
	return 0;
bad:
	snprintf(err, err_size, "subject alt name '%.64s' is neither an ip address nor a dns name",
		 text);
	return -1;
}

/* The wanted SANs: the four defaults, then extra_sans, without duplicates. */
static struct ca_san *ca_sans(const char *const *extra, size_t extra_count, size_t *count,
			      char *err, size_t err_size)
{
	static const char *const defaults[] = {CA_SERVER_CN, "localhost", "127.0.0.1", "::1"};
	struct ca_san *sans;
	size_t n = 0, total = OC_ARRAY_LEN(defaults) + extra_count;

	if (extra_count > CA_EXTRA_SANS_MAX) {
		snprintf(err, err_size, "more than %d extra subject alt names", CA_EXTRA_SANS_MAX);
		return NULL;
	}
	sans = calloc(total, sizeof(*sans));
	if (sans == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < total; i++) {
		const char *text = i < OC_ARRAY_LEN(defaults) ? defaults[i]
							       : extra[i - OC_ARRAY_LEN(defaults)];
		int dup = 0;

		if (text == NULL || ca_san_parse(text, &sans[n], err, err_size) != 0) {
			if (text == NULL)
				snprintf(err, err_size, "empty subject alt name");
			free(sans);
			return NULL;
		}
		for (size_t j = 0; j < n && !dup; j++)
			dup = ca_san_equal(&sans[j], &sans[n]);
		if (!dup)
			n++;
	}
	*count = n;
	return sans;
}

struct ca *ca_open(const char *dir, const char *const *extra_sans, size_t extra_count,
		   char *err, size_t err_size)
{
	struct ca_san *sans = NULL;
	struct ca *ca;
	size_t count = 0;

	ca = calloc(1, sizeof(*ca));
	if (ca == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	mbedtls_pk_init(&ca->key);
	mbedtls_pk_init(&ca->key_signer);
	mbedtls_x509_crt_init(&ca->cert);
	mbedtls_pk_init(&ca->server_key);
	mbedtls_pk_init(&ca->server_signer);
	mbedtls_x509_crt_init(&ca->server_chain);
	sans = ca_sans(extra_sans, extra_count, &count, err, err_size);
	if (sans == NULL)
		goto fail;
	if (util_mkdir_p(dir, 0700) != 0) {
		snprintf(err, err_size, "%s: cannot create: %s", dir, strerror(errno));
		goto fail;
	}
	if (ca_load_ca(ca, dir, err, err_size) != 0)
		goto fail;
	if (ca_load_server(ca, dir, sans, count, err, err_size) != 0)
		goto fail;
	free(sans);
	return ca;
fail:
	free(sans);
	ca_free(ca);
	return NULL;
}

int ca_derive_key(struct ca *ca, const char *label, uint8_t *out, size_t len)
{
	const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(ca->key);
	uint8_t d[32];
	int rc;

	/* The private scalar, not the file's bytes: the same key in another
	 * encoding derives the same secret. */
	if (ec == NULL || mbedtls_mpi_write_binary(&ec->d, d, sizeof(d)) != 0)
		return -1;
	rc = mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), NULL, 0, d, sizeof(d),
			  (const unsigned char *)label, strlen(label), out, len) == 0 ? 0 : -1;
	explicit_bzero(d, sizeof(d));
	return rc;
}

void ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	mbedtls_x509_crt_free(&ca->server_chain);
	mbedtls_pk_free(&ca->server_signer);
	mbedtls_pk_free(&ca->server_key);
	free(ca->cert_pem);
	mbedtls_x509_crt_free(&ca->cert);
	mbedtls_pk_free(&ca->key_signer);
	mbedtls_pk_free(&ca->key);
	free(ca);
}

/* Parses untrusted CSR bytes: PEM when they carry a PEM header, DER otherwise. */
static int ca_csr_parse(mbedtls_x509_csr *csr, const char *data, size_t len)
{
	unsigned char *copy;
	int ret;

	if (memmem(data, len, "-----BEGIN", 10) == NULL)
		return mbedtls_x509_csr_parse_der(csr, (const unsigned char *)data, len);
	copy = malloc(len + 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, data, len);
	copy[len] = '\0';
	ret = mbedtls_x509_csr_parse(csr, copy, len + 1);
	free(copy);
	return ret;
}

static int ca_csr_check(mbedtls_x509_csr *csr, char *err, size_t err_size)
{
	unsigned char hash[MBEDTLS_MD_MAX_SIZE], point[P256_POINT_LEN];
	const mbedtls_ecp_keypair *key;
	const mbedtls_md_info_t *md;
	size_t point_len = 0;

	if (!ca_key_is_p256(&csr->pk)) {
		snprintf(err, err_size, "csr: key is not ecdsa p-256");
		return -1;
	}
	if (csr->sig_pk != MBEDTLS_PK_ECDSA) {
		snprintf(err, err_size, "csr: signature is not ecdsa");
		return -1;
	}
	if (csr->sig_md != MBEDTLS_MD_SHA256 && csr->sig_md != MBEDTLS_MD_SHA384 &&
	    csr->sig_md != MBEDTLS_MD_SHA512) {
		snprintf(err, err_size, "csr: signature hash is not sha-256, sha-384 or sha-512");
		return -1;
	}
	md = mbedtls_md_info_from_type(csr->sig_md);
	key = mbedtls_pk_ec(csr->pk);
	if (md == NULL || mbedtls_md(md, csr->cri.p, csr->cri.len, hash) != 0 ||
	    mbedtls_ecp_point_write_binary(&key->grp, &key->Q, MBEDTLS_ECP_PF_UNCOMPRESSED,
					   &point_len, point, sizeof(point)) != 0 ||
	    point_len != sizeof(point) ||
	    p256_verify_der(point, hash, mbedtls_md_get_size(md), csr->sig.p, csr->sig.len) != 0) {
		snprintf(err, err_size, "csr: signature does not verify");
		return -1;
	}
	return 0;
}

int ca_sign_csr(struct ca *ca, const char *csr_pem, size_t csr_len, const char *common_name,
		int64_t validity_s, char **cert_pem, char *serial_hex, size_t serial_size,
		char *err, size_t err_size)
{
	mbedtls_x509_csr csr;
	struct ca_issue is = { .kind = CA_KIND_CLIENT };
	char issuer_cn[CA_CN_MAX + 1];
	int64_t now = util_now(), ca_until = pki_cert_not_after(&ca->cert);
	int ret = -1;

	*cert_pem = NULL;
	mbedtls_x509_csr_init(&csr);
	if (csr_pem == NULL || csr_len == 0) {
		snprintf(err, err_size, "csr: empty");
		goto fail;
	}
	if (csr_len > CA_CSR_MAX) {
		snprintf(err, err_size, "csr: larger than %d bytes", CA_CSR_MAX);
		goto fail;
	}
	if (common_name == NULL || !ca_cn_ok(common_name)) {
		snprintf(err, err_size, "common name is empty, too long or has ',' or '\\'");
		goto fail;
	}
	if (validity_s <= 0 || validity_s > CA_VALIDITY_S) {
		snprintf(err, err_size, "validity of %lld seconds out of range",
			 (long long)validity_s);
		goto fail;
	}
	if (serial_size < 2 * CA_SERIAL_LEN + 1) {
		snprintf(err, err_size, "serial buffer too small");
		goto fail;
	}
	if (pki_cert_cn(&ca->cert, issuer_cn, sizeof(issuer_cn)) != 0) {
		snprintf(err, err_size, "ca.pem has no usable common name");
		goto fail;
	}
	if (ca_csr_parse(&csr, csr_pem, csr_len) != 0) {
		snprintf(err, err_size, "csr: not parseable");
		goto fail;
	}
	if (ca_csr_check(&csr, err, err_size) != 0)
		goto fail;
	is.subject_key = &csr.pk;
	is.subject_cn = common_name;
	is.issuer_key = &ca->key;
	is.issuer_signer = &ca->key_signer;
	is.issuer_cn = issuer_cn;
	is.not_before = now - CA_BACKDATE_S;
	/* A certificate cannot outlive the CA that vouches for it. */
	is.not_after = now + validity_s;
	if (is.not_after > ca_until)
		is.not_after = ca_until;
	*cert_pem = ca_write_cert(&is, serial_hex, serial_size, err, err_size);
	if (*cert_pem == NULL)
		goto fail;
	ret = 0;
fail:
	mbedtls_x509_csr_free(&csr);
	return ret;
}

mbedtls_x509_crt *ca_cert(struct ca *ca) { return &ca->cert; }
const char *ca_cert_pem(struct ca *ca) { return ca->cert_pem; }
const char *ca_pin(struct ca *ca) { return ca->pin; }
mbedtls_x509_crt *ca_server_chain(struct ca *ca) { return &ca->server_chain; }
mbedtls_pk_context *ca_server_key(struct ca *ca) { return &ca->server_signer; }
