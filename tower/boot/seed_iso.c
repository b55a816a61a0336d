/* seed_iso.c — builds NoCloud seed images with libisofs: ISO9660 with Rock
 * Ridge and Joliet (cloud-init reads "user-data", names plain ISO9660 cannot
 * spell), volume id "cidata"; and the meta-data that goes in them. */
#include "tower/boot/seed_iso.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIBISOFS_WITHOUT_LIBBURN yes
#include <libisofs/libisofs.h>

static pthread_once_t iso_once = PTHREAD_ONCE_INIT;
static int iso_init_rc;

static void iso_start(void)
{
	iso_init_rc = iso_init();
	/* libisofs prints its own messages to stderr unless told not to; ours
	 * come back through err. */
	if (iso_init_rc >= 0)
		iso_set_msgs_severities("NEVER", "NEVER", "seed_iso");
}

static int add_file(IsoImage *image, const char *name, const char *text, char *err,
		    size_t err_size)
{
	size_t len = strlen(text);
	unsigned char *copy = malloc(len ? len : 1);
	IsoStream *stream = NULL;
	IsoFile *file = NULL;
	int rc;

	if (copy == NULL) {
		snprintf(err, err_size, "seed: out of memory");
		return -1;
	}
	memcpy(copy, text, len);
	/* The stream owns copy from here on. */
	if ((rc = iso_memory_stream_new(copy, len, &stream)) < 0) {
		free(copy);
		snprintf(err, err_size, "seed: %s: %s", name, iso_error_to_msg(rc));
		return -1;
	}
	if ((rc = iso_tree_add_new_file(iso_image_get_root(image), name, stream, &file)) < 0) {
		iso_stream_unref(stream);
		snprintf(err, err_size, "seed: %s: %s", name, iso_error_to_msg(rc));
		return -1;
	}
	iso_node_set_permissions((IsoNode *)file, 0444);
	return 0;
}

int seed_iso_build(const struct seed_iso_files *f, unsigned char **out, size_t *len, char *err,
		   size_t err_size)
{
	IsoImage *image = NULL;
	IsoWriteOpts *opts = NULL;
	struct burn_source *src = NULL;
	unsigned char *buf = NULL;
	size_t cap = 0, used = 0;
	int rc;

	*out = NULL;
	*len = 0;
	if (f->user_data == NULL || f->meta_data == NULL) {
		snprintf(err, err_size, "seed: user-data and meta-data are needed");
		return -1;
	}
	pthread_once(&iso_once, iso_start);
	if (iso_init_rc < 0) {
		snprintf(err, err_size, "seed: libisofs: %s", iso_error_to_msg(iso_init_rc));
		return -1;
	}
	if ((rc = iso_image_new(SEED_ISO_LABEL, &image)) < 0) {
		snprintf(err, err_size, "seed: %s", iso_error_to_msg(rc));
		return -1;
	}
	iso_image_set_volume_id(image, SEED_ISO_LABEL);
	if (add_file(image, "user-data", f->user_data, err, err_size) != 0 ||
	    add_file(image, "meta-data", f->meta_data, err, err_size) != 0 ||
	    (f->network_config != NULL &&
	     add_file(image, "network-config", f->network_config, err, err_size) != 0))
		goto fail;
	if ((rc = iso_write_opts_new(&opts, 0)) < 0 ||
	    (rc = iso_write_opts_set_rockridge(opts, 1)) < 0 ||
	    (rc = iso_write_opts_set_joliet(opts, 1)) < 0 ||
	    /* "cidata" as it is: ECMA-119 would make it CIDATA (as genisoimage
	     * -V does not) */
	    (rc = iso_write_opts_set_relaxed_vol_atts(opts, 1)) < 0 ||
	    /* Joliet names as written ("user-data", not "user-data.;1") */
	    (rc = iso_write_opts_set_omit_version_numbers(opts, 2)) < 0 ||
	    (rc = iso_write_opts_set_no_force_dots(opts, 2)) < 0 ||
	    (rc = iso_image_create_burn_source(image, opts, &src)) < 0) {
		snprintf(err, err_size, "seed: %s", iso_error_to_msg(rc));
		goto fail;
	}
	/* libisofs writes on its own thread; read 2 KiB blocks until the end. */
	for (;;) {
		int n;
		if (used + 2048 > cap) {
			size_t ncap = cap ? cap * 2 : 64 * 2048;
			unsigned char *grown;
			if (ncap > SEED_ISO_MAX_BYTES) {
				snprintf(err, err_size, "seed: the image would be over %u bytes",
					 SEED_ISO_MAX_BYTES);
				goto fail;
			}
			if ((grown = realloc(buf, ncap)) == NULL) {
				snprintf(err, err_size, "seed: out of memory");
				goto fail;
			}
			buf = grown;
			cap = ncap;
		}
		n = src->read_xt(src, buf + used, 2048);
		if (n == 0)
			break;
		if (n < 0) {
			snprintf(err, err_size, "seed: writing the image failed");
			goto fail;
		}
		used += (size_t)n;
	}
	src->free_data(src);
	free(src);
	iso_write_opts_free(opts);
	iso_image_unref(image);
	*out = buf;
	*len = used;
	return 0;
fail:
	if (src != NULL) {
		/* Ends the writer thread before its source goes. */
		src->cancel(src);
		src->free_data(src);
		free(src);
	}
	if (opts != NULL)
		iso_write_opts_free(opts);
	if (image != NULL)
		iso_image_unref(image);
	if (buf != NULL) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	return -1;
}

static int hostname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_')
			return 0;
	return 1;
}

int seed_meta_data(const char *instance_id, const char *hostname, char *out, size_t out_size)
{
	int n;

	if (instance_id == NULL || hostname == NULL || !hostname_ok(instance_id) ||
	    !hostname_ok(hostname))
		return -1;
	n = snprintf(out, out_size, "instance-id: %s\nlocal-hostname: %s\n", instance_id, hostname);
	return n < 0 || (size_t)n >= out_size ? -1 : 0;
}
