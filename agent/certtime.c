/* certtime.c — checks a certificate the tower sent with its dates judged
 * apart from the signature, so a clock skew is named as such. */
#include "agent/certtime.h"

#include <stdio.h>

#include "shared/pki.h"

static int ignore_dates(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	(void)arg;
	(void)crt;
	(void)depth;
	*flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE |
			      MBEDTLS_X509_BADCRL_EXPIRED | MBEDTLS_X509_BADCRL_FUTURE);
	return 0;
}

enum certtime_result certtime_verify(mbedtls_x509_crt *crt, mbedtls_x509_crt *ca, const char *cn,
				     int64_t now, char *why, size_t why_size)
{
	uint32_t flags = 0;
	int64_t from, until;

	if (mbedtls_x509_crt_verify(crt, ca, NULL, cn, &flags, ignore_dates, NULL) != 0 ||
	    flags != 0) {
		snprintf(why, why_size, "not signed by the tower's CA");
		return CERTTIME_NOT_OURS;
	}
	from = pki_cert_not_before(crt);
	until = pki_cert_not_after(crt);
	if (now < from) {
		snprintf(why, why_size,
			 "certificate not yet valid: the node's clock is at least %lld s behind the tower",
			 (long long)(from - now));
		return CERTTIME_CLOCK;
	}
	if (now >= until) {
		snprintf(why, why_size,
			 "certificate expired: the node's clock is at least %lld s ahead of the tower",
			 (long long)(now - until));
		return CERTTIME_CLOCK;
	}
	return CERTTIME_OK;
}
