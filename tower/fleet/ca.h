/* ca.h — the tower's certificate authority: creates the CA and the tower's
 * server certificate in the state dir once, reuses them after, signs CSRs. */
#ifndef OC_CA_H
#define OC_CA_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

struct ca;

#define CA_SERVER_CN "overcloud-tower"

/* Loads <dir>/ca.key (0600), ca.pem, server.key (0600), server.pem, creating
 * any that are missing: CA = ECDSA P-256, self-signed, CA:true, 10 years;
 * server cert signed by the CA, CN=overcloud-tower, SANs: DNS overcloud-tower,
 * DNS localhost, IP 127.0.0.1, IP ::1, plus each entry of extra_sans (an IP
 * literal becomes an IP SAN, anything else a DNS SAN); 1 year. When the
 * existing server cert lacks one of the wanted SANs or has under 30 days left,
 * only the server cert is re-issued. Existing CA files are never rewritten.
 * Returns NULL with a reason in err. */
struct ca *ca_open(const char *dir, const char *const *extra_sans, size_t extra_count,
		   char *err, size_t err_size);
void ca_free(struct ca *ca);

/* Verifies the CSR's own signature, that its key is EC P-256, and issues a
 * client certificate: subject CN=common_name (the CSR's subject is ignored),
 * extendedKeyUsage clientAuth, not CA, valid from now-5min for validity_s.
 * *cert_pem is a heap string the caller frees; serial_hex (>= 41 bytes) gets
 * the random serial. Returns 0, or -1 with a one-line reason in err. */
int ca_sign_csr(struct ca *ca, const char *csr_pem, size_t csr_len, const char *common_name,
		int64_t validity_s, char **cert_pem, char *serial_hex, size_t serial_size,
		char *err, size_t err_size);

mbedtls_x509_crt *ca_cert(struct ca *ca);             /* the CA certificate */
const char *ca_cert_pem(struct ca *ca);               /* ca.pem contents */
const char *ca_pin(struct ca *ca);                    /* "sha256:<hex>" of the CA key */
mbedtls_x509_crt *ca_server_chain(struct ca *ca);     /* server cert, then CA cert */
/* server.key prepared for signing (pki_key_signer): for TLS, not for pairing
 * or writing out. */
mbedtls_pk_context *ca_server_key(struct ca *ca);
/* len bytes derived from the CA's private key with HKDF-SHA256, label as
 * its info: a secret every replica holding the same ca.key shares, and
 * one label's secret tells nothing of the key or another label's. 0 or -1. */
int ca_derive_key(struct ca *ca, const char *label, uint8_t *out, size_t len);

#endif
