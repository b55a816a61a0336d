/* config.c — parses the tower's INI file into (section, key, value) entries.
 * Owns syntax only; what a key means is up to the provider that reads it. */
#include "tower/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/util.h"

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_ENTRIES 4096
#define CONFIG_NAME_MAX 64

struct config_entry {
	char section[CONFIG_NAME_MAX];
	char key[CONFIG_NAME_MAX];
	char *value;
};

struct config {
	struct config_entry *entries;
	size_t count;
	size_t cap;
};

struct config *config_empty(void)
{
	return calloc(1, sizeof(struct config));
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->count; i++) {
		/* Values include passwords and secret keys. */
		explicit_bzero(cfg->entries[i].value, strlen(cfg->entries[i].value));
		free(cfg->entries[i].value);
	}
	free(cfg->entries);
	free(cfg);
}

static int name_is_valid(const char *s, size_t len)
{
	if (len == 0 || len >= CONFIG_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
			return 0;
	return 1;
}

static const char *trim(const char *s, const char *end, const char **out_end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	*out_end = end;
	return s;
}

static struct config_entry *entry_find(const struct config *cfg, const char *section,
				       const char *key)
{
	for (size_t i = 0; i < cfg->count; i++)
		if (strcasecmp(cfg->entries[i].section, section) == 0 &&
		    strcasecmp(cfg->entries[i].key, key) == 0)
			return &cfg->entries[i];
	return NULL;
}

static int entry_set(struct config *cfg, const char *section, const char *key, size_t key_len,
		     const char *value, size_t value_len)
{
	char key_buf[CONFIG_NAME_MAX];
	struct config_entry *e;
	char *copy = malloc(value_len + 1);

	if (copy == NULL)
		return -1;
	memcpy(copy, value, value_len);
	copy[value_len] = '\0';
	memcpy(key_buf, key, key_len);
	key_buf[key_len] = '\0';
	e = entry_find(cfg, section, key_buf);
	if (e != NULL) {
		/* Later lines win, as in most INI readers. */
		explicit_bzero(e->value, strlen(e->value));
		free(e->value);
		e->value = copy;
		return 0;
	}
	if (cfg->count == cfg->cap) {
		size_t cap = cfg->cap ? cfg->cap * 2 : 16;
		struct config_entry *grown = realloc(cfg->entries, cap * sizeof(*grown));
		if (grown == NULL) {
			free(copy);
			return -1;
		}
		cfg->entries = grown;
		cfg->cap = cap;
	}
	e = &cfg->entries[cfg->count++];
	snprintf(e->section, sizeof(e->section), "%s", section);
	snprintf(e->key, sizeof(e->key), "%s", key_buf);
	e->value = copy;
	return 0;
}

struct config *config_parse(const char *name, const char *text, size_t len, char *err,
			    size_t err_size)
{
	struct config *cfg = config_empty();
	char section[CONFIG_NAME_MAX] = "";
	const char *p = text, *end = text + len;
	int line = 0;

	if (cfg == NULL) {
		snprintf(err, err_size, "%s: out of memory", name);
		return NULL;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end, *s, *s_end, *eq;

		line++;
		if (memchr(p, '\0', (size_t)(line_end - p)) != NULL) {
			snprintf(err, err_size, "%s:%d: NUL byte", name, line);
			goto fail;
		}
		s = trim(p, line_end, &s_end);
		p = nl ? nl + 1 : end;
		if (s == s_end || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			const char *n, *n_end;
			if (s_end[-1] != ']' || s_end - s < 3) {
				snprintf(err, err_size, "%s:%d: section header must be [name]", name, line);
				goto fail;
			}
			n = trim(s + 1, s_end - 1, &n_end);
			if (!name_is_valid(n, (size_t)(n_end - n))) {
				snprintf(err, err_size, "%s:%d: bad section name", name, line);
				goto fail;
			}
			memcpy(section, n, (size_t)(n_end - n));
			section[n_end - n] = '\0';
			continue;
		}
		eq = memchr(s, '=', (size_t)(s_end - s));
		if (eq == NULL) {
			snprintf(err, err_size, "%s:%d: expected key = value", name, line);
			goto fail;
		}
		if (section[0] == '\0') {
			snprintf(err, err_size, "%s:%d: key outside a [section]", name, line);
			goto fail;
		}
		{
			const char *k_end, *v, *v_end;
			const char *k = trim(s, eq, &k_end);
			if (!name_is_valid(k, (size_t)(k_end - k))) {
				snprintf(err, err_size, "%s:%d: bad key name", name, line);
				goto fail;
			}
			v = trim(eq + 1, s_end, &v_end);
			if (cfg->count >= CONFIG_MAX_ENTRIES) {
				snprintf(err, err_size, "%s:%d: too many entries", name, line);
				goto fail;
			}
			if (entry_set(cfg, section, k, (size_t)(k_end - k), v, (size_t)(v_end - v)) != 0) {
				snprintf(err, err_size, "%s:%d: out of memory", name, line);
				goto fail;
			}
		}
	}
	return cfg;
fail:
	config_free(cfg);
	return NULL;
}

struct config *config_load(const char *path, int missing_ok, char *err, size_t err_size)
{
	struct config *cfg;
	char *text = NULL;
	size_t len = 0;

	text = util_read_file(path, CONFIG_MAX_BYTES, &len);
	if (text == NULL) {
		if (errno == ENOENT && missing_ok)
			return config_empty();
		snprintf(err, err_size, "%s: %s", path, errno == EFBIG ? "file too large" : strerror(errno));
		return NULL;
	}
	cfg = config_parse(path, text, len, err, err_size);
	explicit_bzero(text, len);
	free(text);
	return cfg;
}

const char *config_get(const struct config *cfg, const char *section, const char *key)
{
	const struct config_entry *e;

	if (cfg == NULL)
		return NULL;
	e = entry_find(cfg, section, key);
	return e ? e->value : NULL;
}

size_t config_count(const struct config *cfg)
{
	return cfg ? cfg->count : 0;
}
