/* fuzz_csr.c — libFuzzer target for ca_sign_csr: arbitrary bytes as a CSR, once
 * as a NUL-terminated copy (the PEM path) and once raw (the DER path). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/fleet/ca.h"

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "invariant failed: %s (line %d)\n",  \
				#cond, __LINE__);                            \
			abort();                                             \
		}                                                            \
	} while (0)

static struct ca *fuzz_ca;
static char fuzz_dir[] = "/tmp/fuzz_csr.XXXXXX";

static void fuzz_cleanup(void)
{
	ca_free(fuzz_ca);
	fuzz_ca = NULL;
	util_remove_tree(fuzz_dir);
}

/* One CA for the whole run: creating it per input would measure keygen. */
static struct ca *fuzz_get_ca(void)
{
	char err[256];

	if (fuzz_ca != NULL)
		return fuzz_ca;
	log_set_level(OC_LOG_ERROR);
	CHECK(mkdtemp(fuzz_dir) != NULL);
	fuzz_ca = ca_open(fuzz_dir, NULL, 0, err, sizeof(err));
	if (fuzz_ca == NULL) {
		fprintf(stderr, "fuzz_csr: ca_open: %s\n", err);
		abort();
	}
	atexit(fuzz_cleanup);
	return fuzz_ca;
}

static void fuzz_sign(struct ca *ca, const char *data, size_t len)
{
	char err[256], serial[41];
	char *pem = (char *)"unset";
	int ret;

	err[0] = '\0';
	ret = ca_sign_csr(ca, data, len, "fuzz-node", 3600, &pem, serial, sizeof(serial), err,
			  sizeof(err));
	if (ret == 0) {
		CHECK(pem != NULL && strstr(pem, "-----BEGIN CERTIFICATE-----") == pem);
		CHECK(strlen(serial) > 0 && strlen(serial) <= 32);
		free(pem);
	} else {
		CHECK(ret == -1);
		CHECK(pem == NULL);
		/* A one-line reason, always. */
		CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ca *ca = fuzz_get_ca();
	char *copy;

	copy = malloc(size + 1);
	CHECK(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	fuzz_sign(ca, copy, size + 1);
	free(copy);
	fuzz_sign(ca, (const char *)data, size);
	return 0;
}
