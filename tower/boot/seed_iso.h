/* seed_iso.h — a cloud-init NoCloud seed: an ISO9660 image labelled "cidata"
 * holding user-data, meta-data and network-config, made in memory (libisofs). */
#ifndef OC_SEED_ISO_H
#define OC_SEED_ISO_H

#include <stddef.h>

#define SEED_ISO_LABEL "cidata"          /* what cloud-init's NoCloud looks for */
#define SEED_ISO_MAX_BYTES (4u << 20)

struct seed_iso_files {
	const char *user_data;       /* the node's #cloud-config; holds its join token */
	const char *meta_data;
	const char *network_config;  /* NULL: none (cloud-init falls back to DHCP) */
};

/* The image in *out (caller zeroes and frees: the user-data is in it), its
 * length in *len; or -1 with a one-line reason in err. Thread-safe. */
int seed_iso_build(const struct seed_iso_files *f, unsigned char **out, size_t *len, char *err,
		   size_t err_size);

/* NoCloud meta-data naming the instance and its hostname (both the node's
 * name: letters, digits, '-', '.', '_'). -1 when a name is not one. */
int seed_meta_data(const char *instance_id, const char *hostname, char *out, size_t out_size);

#endif
