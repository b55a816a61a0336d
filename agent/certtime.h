/* certtime.h — checks a certificate the tower sent with its dates judged
 * apart from the signature, so a clock skew is named as such. */
#ifndef OC_AGENT_CERTTIME_H
#define OC_AGENT_CERTTIME_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

enum certtime_result {
	CERTTIME_OK = 0,
	CERTTIME_NOT_OURS = -1,   /* does not chain to ca (or names another host) */
	CERTTIME_CLOCK = -2,      /* good, but not valid at now: why says by how much */
};

/* Verifies crt against ca (and cn when not NULL) ignoring its dates, then
 * judges the dates at now (the tower's clock when known, else the node's).
 * On CERTTIME_CLOCK, why reads "certificate not yet valid: the node's clock
 * is at least N s behind the tower" or "certificate expired: the node's
 * clock is at least N s ahead of the tower". */
enum certtime_result certtime_verify(mbedtls_x509_crt *crt, mbedtls_x509_crt *ca, const char *cn,
				     int64_t now, char *why, size_t why_size);

#endif
