/* p256_verify.h — checks an ECDSA P-256 signature with OpenSSL's libcrypto,
 * which the tower already loads through libcurl. Tower only: the agent stays mbedtls. */
#ifndef OC_P256_VERIFY_H
#define OC_P256_VERIFY_H

#include <stddef.h>

/* The uncompressed point, 0x04 || X || Y. */
#define P256_POINT_LEN 65

/* 0 when sig (DER ECDSA-Sig-Value, exactly sig_len bytes, nothing after it)
 * signs hash under the public point; -1 otherwise, also for a point that is
 * not on the curve or a hash that is not 32, 48 or 64 bytes. Thread-safe. */
int p256_verify_der(const unsigned char point[P256_POINT_LEN], const unsigned char *hash,
		    size_t hash_len, const unsigned char *sig, size_t sig_len);

#endif
