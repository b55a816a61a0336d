/* bundle.h — role bundles: a role directory packed into one byte string
 * (ustar), addressed by its sha256, and unpacked safely on the agent. */
#ifndef OC_BUNDLE_H
#define OC_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define BUNDLE_MAX_BYTES (8 * 1024 * 1024)
#define BUNDLE_MAX_FILES 256

/* Packs the regular files and directories under dir (no symlinks, no
 * devices; files sorted by path, mtime/uid/gid zeroed so the same tree
 * always gives the same bytes and hash). Modes keep only 0755/0644.
 * *out is a heap buffer the caller frees. Returns 0, or -1 with err. */
int bundle_pack_dir(const char *dir, uint8_t **out, size_t *out_len, char *err, size_t err_size);

/* A file packed from outside the directory: read from source (a regular
 * file; a symlink is refused, not followed), stored as name at the top. */
struct bundle_extra {
	const char *source;
	const char *name;      /* one path component */
};

/* bundle_pack_dir plus extra files at the bundle's top, sorted in with the
 * rest, so the bytes are those of the dir with the files copied into it.
 * A name with a '/', or already in dir or among extra, is refused. */
int bundle_pack(const char *dir, const struct bundle_extra *extra, size_t extra_count,
		uint8_t **out, size_t *out_len, char *err, size_t err_size);

/* Unpacks into dest (created 0700, must not exist or be empty). Refuses
 * absolute paths, "..", links, devices, duplicate names, bad checksums, more
 * than BUNDLE_MAX_FILES entries or BUNDLE_MAX_BYTES, and truncated input;
 * on refusal dest is removed. Returns 0, or -1 with err. */
int bundle_unpack(const uint8_t *data, size_t len, const char *dest, char *err, size_t err_size);

/* Checks that data's sha256 is hash_hex (64 lower-case hex). 0 or -1. */
int bundle_verify(const uint8_t *data, size_t len, const char *hash_hex);

/* The agent's cache: <cache_dir>/<hash>/ holds an unpacked bundle.
 * Returns the directory path (heap; caller frees) when present and
 * complete, else NULL. */
char *bundle_cache_lookup(const char *cache_dir, const char *hash_hex);
/* Verifies data against hash_hex, unpacks it into the cache atomically
 * (temp dir + rename) and returns the path as bundle_cache_lookup does.
 * Nothing is synced: a cache is only to be trusted by the process that
 * filled it, so empty it at start (util_clear_dir). */
char *bundle_cache_store(const char *cache_dir, const char *hash_hex, const uint8_t *data,
			 size_t len, char *err, size_t err_size);

#endif
