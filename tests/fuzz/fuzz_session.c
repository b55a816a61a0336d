/* fuzz_session.c — libFuzzer target: a hostile Cookie header through the
 * console's cookie parser and session lookup, and a hostile file name
 * through the web console's Content-Type choice. Nothing may crash, and a
 * value found must fit and come from the header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tower/api/session.h"
#include "tower/api/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sessions *sessions;
	char *header = malloc(size + 1), value[SESSION_ID_HEX + 1], csrf[SESSION_CSRF_HEX + 1];
	char id[SESSION_ID_HEX + 1];
	int64_t expires_at;

	if (header == NULL)
		return 0;
	if (sessions == NULL) {
		sessions = sessions_new();
		if (sessions == NULL || sessions_start(sessions, 1000, id, csrf, &expires_at) != 0)
			abort();
	}
	memcpy(header, data, size);
	header[size] = '\0';
	if (session_cookie_get(header, SESSION_COOKIE, value, sizeof(value))) {
		if (strlen(value) == 0 || strlen(value) > SESSION_ID_HEX || strstr(header, value) == NULL)
			abort();
		sessions_lookup(sessions, value, 1001, csrf, &expires_at);
	}
	web_content_type(header);
	free(header);
	return 0;
}
