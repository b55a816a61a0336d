/* pki.h — keys, CSRs and certificate facts shared by tower and agent:
 * ECDSA P-256 only, PEM on disk, one process-wide random generator. */
#ifndef OC_PKI_H
#define OC_PKI_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

/* The name in the tower's server certificate that agents verify, whatever
 * address they dial. */
#define PKI_TOWER_NAME "overcloud-tower"

/* The process-wide DRBG, seeded on first use from the kernel (fatal if it
 * cannot be seeded). For mbedtls f_rng/p_rng arguments: mbedtls_ctr_drbg_random, pki_rng(). */
mbedtls_ctr_drbg_context *pki_rng(void);

/* Generates an ECDSA P-256 key into an initialised pk. Returns 0 or -1. */
int pki_key_generate(mbedtls_pk_context *pk);
/* Writes the key as PEM to path with mode 0600 (atomically). Returns 0 or -1. */
int pki_key_save(const mbedtls_pk_context *pk, const char *path);
/* Loads a PEM key; refuses anything but an EC P-256 key. Returns 0 or -1 with err. */
int pki_key_load(mbedtls_pk_context *pk, const char *path, char *err, size_t err_size);

/* An ECDSA-type copy of the EC key in key, into an initialised out, with its
 * curve's base-point table (for P-256 a copy of one built once per process).
 * mbedtls gives a parsed or generated key the generic EC type, and every
 * signature or verification with that type copies the curve and builds the
 * table again (a third to a half of the operation); the ECDSA type keeps it.
 * Built now, so that threads sharing out later only read it. out signs and
 * verifies; it cannot be written out or paired with mbedtls_pk_check_pair
 * (use key for that). Returns 0 or -1. */
int pki_key_signer(mbedtls_pk_context *out, const mbedtls_pk_context *key);
/* Replaces the key of each certificate in chain by its pki_key_signer copy,
 * so that verifying what they signed skips the table too: for trusted CA
 * certificates, after anything that pairs their key. 0 or -1 (chain as it
 * was from the failing certificate on). */
int pki_crt_prepare(mbedtls_x509_crt *chain);
/* A PEM CSR for key with subject CN=common_name (heap string; caller frees),
 * or NULL. */
char *pki_csr_create(mbedtls_pk_context *key, const char *common_name);

/* "sha256:<64 hex>" of the certificate's SubjectPublicKeyInfo (DER), the same
 * pin kubeadm calls discovery-token-ca-cert-hash. out must hold 72 bytes. */
int pki_spki_pin(const mbedtls_x509_crt *crt, char *out, size_t out_size);
/* The subject CN of crt into out. Returns 0, or -1 when absent or too long. */
int pki_cert_cn(const mbedtls_x509_crt *crt, char *out, size_t out_size);
/* The serial number as lower-case hex into out. Returns 0 or -1. */
int pki_cert_serial_hex(const mbedtls_x509_crt *crt, char *out, size_t out_size);
/* Seconds since the epoch when crt stops being valid. */
int64_t pki_cert_not_after(const mbedtls_x509_crt *crt);
int64_t pki_cert_not_before(const mbedtls_x509_crt *crt);
/* mbedtls error code as a short text into buf; returns buf. */
const char *pki_strerror(int code, char *buf, size_t size);

#endif
