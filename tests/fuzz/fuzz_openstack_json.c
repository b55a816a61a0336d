/* fuzz_openstack_json.c — libFuzzer target for the openstack provider's
 * parsers of cloud replies: any bytes go to every one of them; each either
 * fails cleanly or fills its fixed-size output with a NUL-terminated string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tower/providers/openstack_parse.h"

static void check_str(const char *s, size_t size)
{
	if (memchr(s, '\0', size) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct osp_catalog cat;
	struct osp_server srv;
	int64_t issued, expires, t;
	char id[OSP_ID_MAX], marker[OSP_ID_MAX], err[256], msg[OSP_MSG_MAX], *text;

	if (osp_parse_token(body, size, "RegionOne", "public", &issued, &expires, &cat, err,
			    sizeof(err)) == 0) {
		check_str(cat.compute, sizeof(cat.compute));
		if (strncmp(cat.compute, "http", 4) != 0)
			abort();
	}
	osp_parse_token(body, size, NULL, "internal", &issued, &expires, &cat, err, sizeof(err));
	if (osp_parse_server(body, size, "oc-net", &srv, err, sizeof(err)) == 0) {
		check_str(srv.id, sizeof(srv.id));
		check_str(srv.fault, sizeof(srv.fault));
		check_str(srv.address, sizeof(srv.address));
		if (srv.id[0] == '\0' || strchr(srv.id, '/') != NULL)
			abort();
	}
	osp_find_server(body, size, "oc-a-cluster-1", "oc-a", id, sizeof(id), err, sizeof(err));
	if (osp_find_flavor(body, size, "m1.small", id, sizeof(id), marker, sizeof(marker), err,
			    sizeof(err)) == 0)
		check_str(marker, sizeof(marker));
	osp_find_named(body, size, "images", "debian-12", id, sizeof(id), err, sizeof(err));
	osp_find_named(body, size, "networks", "oc-net", id, sizeof(id), err, sizeof(err));
	osp_parse_image(body, size, id, sizeof(id), err, sizeof(err));
	osp_error_message(body, size, NULL, msg, sizeof(msg));
	check_str(msg, sizeof(msg));
	/* the text-level helpers want a C string */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	osp_parse_time(text, &t);
	osp_is_uuid(text);
	osp_scrub(text);
	if (strlen(text) > size)
		abort();
	free(text);
	return 0;
}
