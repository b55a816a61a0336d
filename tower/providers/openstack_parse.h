/* openstack_parse.h — reads the OpenStack API's response bodies (Keystone
 * token + catalog, Nova servers and flavors, Glance images, Neutron networks,
 * error bodies) into small fixed-size C structs. Pure functions on untrusted
 * bytes: no I/O, nothing kept; the HTTP side lives in openstack.c. */
#ifndef OC_OPENSTACK_PARSE_H
#define OC_OPENSTACK_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define OSP_URL_MAX 512
#define OSP_ID_MAX 128
#define OSP_MSG_MAX 400
#define OSP_ADDR_MAX 64
#define OSP_STATUS_MAX 32

/* The endpoints the provider uses, from a token's service catalog; an empty
 * string when the catalog has none for the wanted region and interface. */
struct osp_catalog {
	char compute[OSP_URL_MAX];    /* type "compute" (Nova) */
	char image[OSP_URL_MAX];      /* type "image" (Glance) */
	char network[OSP_URL_MAX];    /* type "network" (Neutron) */
};

/* A Keystone v3 token body, {"token": {"expires_at": ..., "issued_at": ...,
 * "catalog": [...]}}; issued_at is 0 when absent (both are Keystone's clock).
 * region NULL or "" takes the first endpoint of the interface in any region.
 * A compute endpoint is required. Returns 0, or -1 with err. */
int osp_parse_token(const char *body, size_t len, const char *region, const char *interface,
		    int64_t *issued_at, int64_t *expires_at, struct osp_catalog *cat, char *err,
		    size_t err_size);

/* ISO 8601 as Keystone writes it ("2015-11-09T01:42:57.527363Z", also with
 * "+HH:MM") -> seconds since the epoch. Returns 0 or -1. */
int osp_parse_time(const char *text, int64_t *out);

/* One Nova server, {"server": {...}}. Only id is required (the reply to
 * POST /servers carries little more); the rest is "" when absent. */
struct osp_server {
	char id[OSP_ID_MAX];
	char status[OSP_STATUS_MAX];    /* "BUILD", "ACTIVE", "ERROR", "DELETED", ... */
	char fault[OSP_MSG_MAX];        /* fault.message, scrubbed */
	char address[OSP_ADDR_MAX];     /* see osp_parse_server */
	char overcloud_id[OSP_ID_MAX];  /* metadata.overcloud_id */
};

/* The address is the first fixed IPv4 on network prefer_net (may be NULL),
 * else the first IPv4 on any network, else the first address at all.
 * Returns 0, or -1 with err. */
int osp_parse_server(const char *body, size_t len, const char *prefer_net,
		     struct osp_server *out, char *err, size_t err_size);

/* A GET /servers/detail reply, {"servers": [...]}: the id of the server named
 * name whose metadata.overcloud_id is ocid. Returns 1 and id when found, 0 when
 * none is, -1 with err on a bad body. */
int osp_find_server(const char *body, size_t len, const char *name, const char *ocid,
		    char *id, size_t id_size, char *err, size_t err_size);

/* One page of GET /flavors/detail, {"flavors": [...], "flavors_links": [...]}:
 * the flavor whose id is want, else whose name is want. Returns 1 with id when
 * found; 0 when not on this page, with the marker of the next page in marker
 * ("" on the last page); -1 with err on a bad body. */
int osp_find_flavor(const char *body, size_t len, const char *want, char *id, size_t id_size,
		    char *marker, size_t marker_size, char *err, size_t err_size);

/* A Glance image list {"images": [...]} or a Neutron network list
 * {"networks": [...]} (list_key), filtered by the server on name or id: the
 * single entry whose name or id is want (images must be "active"). Returns 1
 * with id, 0 when none, -1 with err on a bad body or when want is ambiguous. */
int osp_find_named(const char *body, size_t len, const char *list_key, const char *want,
		   char *id, size_t id_size, char *err, size_t err_size);

/* A single Glance image object (GET /v2/images/{id} is not wrapped): its id
 * when it is active. Returns 1 with id, 0 when not active, -1 with err. */
int osp_parse_image(const char *body, size_t len, char *id, size_t id_size, char *err,
		    size_t err_size);

struct mask;

/* The message of an error body: Nova {"<kind>": {"message": ..., "code": N}},
 * Keystone {"error": {"message": ...}}, Neutron {"NeutronError": {"message":
 * ...}}, else the body's first line. Always fills out (maybe with ""): secrets
 * (may be NULL) masked in the whole message first, then cut to fit and
 * scrubbed as osp_scrub says. */
void osp_error_message(const char *body, size_t len, const struct mask *secrets, char *out,
		       size_t out_size);

/* Makes a message from the cloud safe to log: control bytes become spaces, and
 * every run of 40 or more characters of the base64 or of the base64url
 * alphabet (tokens, user-data a service echoes back) becomes "[elided]". In
 * place. */
void osp_scrub(char *msg);

/* True for an id this module hands out: 1 to OSP_ID_MAX - 1 characters of
 * A-Z a-z 0-9 . _ - (safe in a URL path and as a node handle). */
int osp_id_ok(const char *s);

/* True for the 8-4-4-4-12 hex form of ids (images, networks). */
int osp_is_uuid(const char *s);

#endif
