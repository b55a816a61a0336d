/* pki.c — ECDSA P-256 keys, CSRs, certificate facts and the process-wide DRBG.
 * Owns what tower and agent both need; signing certificates lives in tower/fleet/ca.c. */
#include "shared/pki.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_csr.h>

#include "shared/log.h"
#include "shared/util.h"

#define PKI_KEY_FILE_MAX 16384
#define PKI_CN_MAX 64

static mbedtls_entropy_context pki_entropy;
static mbedtls_ctr_drbg_context pki_drbg;
static pthread_once_t pki_once = PTHREAD_ONCE_INIT;
static pid_t pki_seed_pid;

static void pki_rng_seed(void)
{
	static const char personal[] = "overcloud-pki";
	char msg[128];
	int ret;

	mbedtls_entropy_init(&pki_entropy);
	mbedtls_ctr_drbg_init(&pki_drbg);
	ret = mbedtls_ctr_drbg_seed(&pki_drbg, mbedtls_entropy_func, &pki_entropy,
				    (const unsigned char *)personal, sizeof(personal) - 1);
	if (ret != 0)
		fatal("pki: cannot seed the random generator: %s",
		      pki_strerror(ret, msg, sizeof(msg)));
	pki_seed_pid = getpid();
}

mbedtls_ctr_drbg_context *pki_rng(void)
{
	char msg[128];
	int ret;

	pthread_once(&pki_once, pki_rng_seed);
	/* A forked child must not replay its parent's random stream. */
	if (pki_seed_pid != getpid()) {
		ret = mbedtls_ctr_drbg_reseed(&pki_drbg, NULL, 0);
		if (ret != 0)
			fatal("pki: cannot reseed the random generator: %s",
			      pki_strerror(ret, msg, sizeof(msg)));
		pki_seed_pid = getpid();
	}
	return &pki_drbg;
}

int pki_key_generate(mbedtls_pk_context *pk)
{
	if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0)
		return -1;
	if (mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk),
				mbedtls_ctr_drbg_random, pki_rng()) != 0)
		return -1;
	return 0;
}

int pki_key_save(const mbedtls_pk_context *pk, const char *path)
{
	unsigned char pem[1024];
	int ret = -1;

	/* mbedtls 2.28 takes a non-const context but only reads it. */
	if (mbedtls_pk_write_key_pem((mbedtls_pk_context *)pk, pem, sizeof(pem)) != 0)
		goto out;
	if (util_write_file(path, pem, strlen((char *)pem), 0600) != 0)
		goto out;
	ret = 0;
out:
	mbedtls_platform_zeroize(pem, sizeof(pem));
	return ret;
}

/* mbedtls caches a curve's base-point table in the group on the first
 * multiplication of its generator; 1·G is the cheapest such multiplication. */
static int pki_group_build_table(mbedtls_ecp_group *grp)
{
	mbedtls_ecp_point point;
	mbedtls_mpi one;
	int ret;

	mbedtls_ecp_point_init(&point);
	mbedtls_mpi_init(&one);
	ret = mbedtls_mpi_lset(&one, 1);
	if (ret == 0)
		ret = mbedtls_ecp_mul(grp, &point, &one, &grp->G, mbedtls_ctr_drbg_random,
				      pki_rng());
	mbedtls_mpi_free(&one);
	mbedtls_ecp_point_free(&point);
	return ret == 0 ? 0 : -1;
}

/* Loads curve id into an initialised grp and builds its base-point table. */
static int pki_group_prepare(mbedtls_ecp_group *grp, mbedtls_ecp_group_id id)
{
	if (mbedtls_ecp_group_load(grp, id) != 0 || pki_group_build_table(grp) != 0) {
		mbedtls_ecp_group_free(grp);
		mbedtls_ecp_group_init(grp);
		return -1;
	}
	return 0;
}

/* P-256 with its table, built once per process: copying its 8 points into a
 * key's group takes microseconds, building them a third of a verification. */
static mbedtls_ecp_group pki_p256;
static int pki_p256_status = -1;
static pthread_once_t pki_p256_once = PTHREAD_ONCE_INIT;

static void pki_p256_build(void)
{
	mbedtls_ecp_group_init(&pki_p256);
	pki_p256_status = pki_group_prepare(&pki_p256, MBEDTLS_ECP_DP_SECP256R1);
}

/* grp: a P-256 group just loaded, without a table. mbedtls 2.28 keeps the
 * table in the public fields T and T_size and frees it with the group. */
static int pki_group_copy_p256_table(mbedtls_ecp_group *grp)
{
	mbedtls_ecp_point *table;

	pthread_once(&pki_p256_once, pki_p256_build);
	if (pki_p256_status != 0 || grp->id != MBEDTLS_ECP_DP_SECP256R1 || grp->T != NULL)
		return -1;
	table = mbedtls_calloc(pki_p256.T_size, sizeof(*table));
	if (table == NULL)
		return -1;
	for (size_t i = 0; i < pki_p256.T_size; i++)
		mbedtls_ecp_point_init(&table[i]);
	for (size_t i = 0; i < pki_p256.T_size; i++) {
		if (mbedtls_ecp_copy(&table[i], &pki_p256.T[i]) != 0) {
			for (size_t j = 0; j < pki_p256.T_size; j++)
				mbedtls_ecp_point_free(&table[j]);
			mbedtls_free(table);
			return -1;
		}
	}
	grp->T = table;
	grp->T_size = pki_p256.T_size;
	return 0;
}

int pki_key_signer(mbedtls_pk_context *out, const mbedtls_pk_context *key)
{
	mbedtls_ecdsa_context *ecdsa;

	if (!mbedtls_pk_can_do(key, MBEDTLS_PK_ECKEY) ||
	    mbedtls_pk_setup(out, mbedtls_pk_info_from_type(MBEDTLS_PK_ECDSA)) != 0)
		return -1;
	ecdsa = mbedtls_pk_ec(*out);
	if (mbedtls_ecdsa_from_keypair(ecdsa, mbedtls_pk_ec(*key)) != 0 ||
	    (pki_group_copy_p256_table(&ecdsa->grp) != 0 &&
	     pki_group_build_table(&ecdsa->grp) != 0)) {
		mbedtls_pk_free(out);
		mbedtls_pk_init(out);
		return -1;
	}
	return 0;
}

int pki_crt_prepare(mbedtls_x509_crt *chain)
{
	for (mbedtls_x509_crt *crt = chain; crt != NULL && crt->raw.p != NULL; crt = crt->next) {
		mbedtls_pk_context signer;

		mbedtls_pk_init(&signer);
		if (pki_key_signer(&signer, &crt->pk) != 0)
			return -1;
		mbedtls_pk_free(&crt->pk);
		crt->pk = signer;	/* the context owns its key: a move */
	}
	return 0;
}

static int pki_key_is_p256(const mbedtls_pk_context *pk)
{
	if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY)
		return 0;
	return mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

int pki_key_load(mbedtls_pk_context *pk, const char *path, char *err, size_t err_size)
{
	char msg[128];
	char *pem;
	size_t len;
	int ret;

	pem = util_read_file(path, PKI_KEY_FILE_MAX, &len);
	if (pem == NULL) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	ret = mbedtls_pk_parse_key(pk, (unsigned char *)pem, len + 1, NULL, 0);
	mbedtls_platform_zeroize(pem, len);
	free(pem);
	if (ret != 0) {
		snprintf(err, err_size, "%s: not a usable private key: %s", path,
			 pki_strerror(ret, msg, sizeof(msg)));
		goto fail;
	}
	if (!pki_key_is_p256(pk)) {
		snprintf(err, err_size, "%s: key is not ecdsa p-256", path);
		goto fail;
	}
	return 0;
fail:
	mbedtls_pk_free(pk);
	mbedtls_pk_init(pk);
	return -1;
}

char *pki_csr_create(mbedtls_pk_context *key, const char *common_name)
{
	mbedtls_x509write_csr csr;
	unsigned char pem[2048];
	char subject[8 + PKI_CN_MAX];
	char *out = NULL;
	size_t len = strlen(common_name);

	/* x509_string_to_names would read ',' and '\' as syntax: keep them out. */
	if (len == 0 || len > PKI_CN_MAX || strpbrk(common_name, ",\\") != NULL)
		return NULL;
	snprintf(subject, sizeof(subject), "CN=%s", common_name);
	mbedtls_x509write_csr_init(&csr);
	mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
	mbedtls_x509write_csr_set_key(&csr, key);
	if (mbedtls_x509write_csr_set_subject_name(&csr, subject) != 0)
		goto out;
	if (mbedtls_x509write_csr_pem(&csr, pem, sizeof(pem), mbedtls_ctr_drbg_random,
				      pki_rng()) != 0)
		goto out;
	out = strdup((char *)pem);
out:
	mbedtls_x509write_csr_free(&csr);
	return out;
}

int pki_spki_pin(const mbedtls_x509_crt *crt, char *out, size_t out_size)
{
	char hex[65];

	if (out_size < 72 || crt->pk_raw.p == NULL || crt->pk_raw.len == 0)
		return -1;
	util_sha256_hex(crt->pk_raw.p, crt->pk_raw.len, hex);
	snprintf(out, out_size, "sha256:%s", hex);
	return 0;
}

int pki_cert_cn(const mbedtls_x509_crt *crt, char *out, size_t out_size)
{
	const mbedtls_x509_name *name;

	for (name = &crt->subject; name != NULL; name = name->next) {
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &name->oid) != 0)
			continue;
		if (name->val.len == 0 || name->val.len >= out_size ||
		    memchr(name->val.p, '\0', name->val.len) != NULL)
			return -1;
		memcpy(out, name->val.p, name->val.len);
		out[name->val.len] = '\0';
		return 0;
	}
	return -1;
}

int pki_cert_serial_hex(const mbedtls_x509_crt *crt, char *out, size_t out_size)
{
	const unsigned char *p = crt->serial.p;
	size_t len = crt->serial.len;

	/* The DER sign byte is not part of the number. */
	while (len > 1 && p[0] == 0) {
		p++;
		len--;
	}
	if (len == 0 || out_size < 2 * len + 1)
		return -1;
	util_hex(p, len, out);
	return 0;
}

static int64_t x509_time_to_epoch(const mbedtls_x509_time *t)
{
	struct tm tm = {
		.tm_year = t->year - 1900,
		.tm_mon = t->mon - 1,
		.tm_mday = t->day,
		.tm_hour = t->hour,
		.tm_min = t->min,
		.tm_sec = t->sec,
	};

	return (int64_t)timegm(&tm);
}

int64_t pki_cert_not_after(const mbedtls_x509_crt *crt)
{
	return x509_time_to_epoch(&crt->valid_to);
}

int64_t pki_cert_not_before(const mbedtls_x509_crt *crt)
{
	return x509_time_to_epoch(&crt->valid_from);
}

const char *pki_strerror(int code, char *buf, size_t size)
{
#if defined(MBEDTLS_ERROR_C)
	char text[96];
	size_t i;

	mbedtls_strerror(code, text, sizeof(text));
	for (i = 0; text[i] != '\0'; i++) {
		if (text[i] >= 'A' && text[i] <= 'Z')
			text[i] = (char)(text[i] - 'A' + 'a');
	}
	snprintf(buf, size, "%s (-0x%04x)", text, (unsigned int)(code < 0 ? -code : code));
#else
	snprintf(buf, size, "mbedtls error -0x%04x", (unsigned int)(code < 0 ? -code : code));
#endif
	return buf;
}
