/* config.h — the tower's INI configuration file (/etc/overcloud/tower.conf or
 * --config): [section] headers with key = value lines, read once at start. */
#ifndef OC_CONFIG_H
#define OC_CONFIG_H

#include <stddef.h>

struct config;

/* Parses a whole file. A missing file with missing_ok gives an empty config.
 * Returns NULL with "FILE:LINE: reason" in err on a syntax error.
 * Caller frees with config_free. */
struct config *config_load(const char *path, int missing_ok, char *err, size_t err_size);

/* Parses text already in memory; name is used in error messages. */
struct config *config_parse(const char *name, const char *text, size_t len, char *err,
			    size_t err_size);

/* An empty configuration (no sections). */
struct config *config_empty(void);

void config_free(struct config *cfg);

/* The value of key in section, or NULL. Section and key names are
 * case-insensitive. The string lives as long as cfg. */
const char *config_get(const struct config *cfg, const char *section, const char *key);

/* Number of entries, for tests and the start-up log line. */
size_t config_count(const struct config *cfg);

#endif
