/* openstack_parse.c — OpenStack response bodies (token + catalog, servers,
 * flavors, images, networks, errors) into fixed-size structs; no I/O here. */
#include "tower/providers/openstack_parse.h"

#include "shared/mask.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define OSP_SCRUB_RUN 40

static json_t *load(const char *body, size_t len, char *err, size_t err_size)
{
	json_error_t jerr;
	json_t *root;

	if (body == NULL) {
		snprintf(err, err_size, "empty body");
		return NULL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, err_size, "body is not JSON (line %d: %.80s)", jerr.line, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, err_size, "body is not a JSON object");
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Ids end up in URL paths and handles: a conservative alphabet. */
int osp_id_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= OSP_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static const char *str_field(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Copies an id field after checking it; -1 with err when missing or odd. */
static int copy_id(const json_t *obj, const char *what, char *id, size_t id_size, char *err,
		   size_t err_size)
{
	const char *v = str_field(obj, "id");

	if (v == NULL) {
		snprintf(err, err_size, "%s has no string \"id\"", what);
		return -1;
	}
	if (!osp_id_ok(v) || strlen(v) >= id_size) {
		snprintf(err, err_size, "%s id is not a plain id (1-%d of A-Z a-z 0-9 . _ -)", what,
			 OSP_ID_MAX - 1);
		return -1;
	}
	snprintf(id, id_size, "%s", v);
	return 0;
}

int osp_is_uuid(const char *s)
{
	static const int groups[] = {8, 4, 4, 4, 12};
	const char *p = s;

	for (size_t g = 0; g < 5; g++) {
		for (int i = 0; i < groups[g]; i++, p++)
			if (!isxdigit((unsigned char)*p))
				return 0;
		if (g < 4 && *p++ != '-')
			return 0;
	}
	return *p == '\0';
}

/* ---- time ---- */

static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

int osp_parse_time(const char *text, int64_t *out)
{
	const char *p = text;
	int year, mon, day, hour, min, sec, oh = 0, om = 0, sign = 0;
	struct tm tm;
	time_t t;

	if (text == NULL || digits(&p, 4, &year) || *p++ != '-' || digits(&p, 2, &mon) ||
	    *p++ != '-' || digits(&p, 2, &day) || (*p != 'T' && *p != ' ') || !*p++ ||
	    digits(&p, 2, &hour) || *p++ != ':' || digits(&p, 2, &min) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (int i = 0; isdigit((unsigned char)*p); i++, p++)
			if (i >= 12)
				return -1;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
	}
	if (*p != '\0' || year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 ||
	    hour > 23 || min > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (int64_t)t - (int64_t)sign * (oh * 3600 + om * 60);
	return 0;
}

/* ---- token and catalog ---- */

static bool url_ok(const char *u)
{
	size_t len = strlen(u);

	if (len >= OSP_URL_MAX || (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f || u[i] == '?' ||
		    u[i] == '#')
			return false;
	return true;
}

/* The url of the first endpoint of service with the interface (and region). */
static int pick_endpoint(const json_t *service, const char *region, const char *interface,
			 char *out, const char *type, char *err, size_t err_size)
{
	const json_t *eps = json_object_get(service, "endpoints"), *ep;
	size_t i;

	if (!json_is_array(eps))
		return 0;
	json_array_foreach(eps, i, ep) {
		const char *iface = str_field(ep, "interface"), *url = str_field(ep, "url");
		const char *reg = str_field(ep, "region_id"), *reg_name = str_field(ep, "region");
		size_t len;

		if (iface == NULL || url == NULL || strcmp(iface, interface) != 0)
			continue;
		if (region != NULL && region[0] != '\0' &&
		    !(reg != NULL && strcmp(reg, region) == 0) &&
		    !(reg_name != NULL && strcmp(reg_name, region) == 0))
			continue;
		if (!url_ok(url)) {
			snprintf(err, err_size, "catalog: the %s endpoint is not an http(s) URL", type);
			return -1;
		}
		len = strlen(url);
		while (len > 0 && url[len - 1] == '/')
			len--;
		memcpy(out, url, len);
		out[len] = '\0';
		return 1;
	}
	return 0;
}

int osp_parse_token(const char *body, size_t len, const char *region, const char *interface,
		    int64_t *issued_at, int64_t *expires_at, struct osp_catalog *cat, char *err,
		    size_t err_size)
{
	json_t *root = load(body, len, err, err_size), *token, *catalog, *svc;
	const char *exp;
	size_t i;
	int rc = -1;

	memset(cat, 0, sizeof(*cat));
	if (root == NULL)
		return -1;
	token = json_object_get(root, "token");
	if (!json_is_object(token)) {
		snprintf(err, err_size, "token body has no \"token\" object");
		goto out;
	}
	exp = str_field(token, "expires_at");
	if (exp == NULL || osp_parse_time(exp, expires_at) != 0) {
		snprintf(err, err_size, "token has no valid \"expires_at\"");
		goto out;
	}
	exp = str_field(token, "issued_at");
	if (exp == NULL || osp_parse_time(exp, issued_at) != 0)
		*issued_at = 0;
	catalog = json_object_get(token, "catalog");
	if (!json_is_array(catalog)) {
		snprintf(err, err_size, "token has no service catalog (is it scoped to a project?)");
		goto out;
	}
	json_array_foreach(catalog, i, svc) {
		const char *type = str_field(svc, "type");
		char *slot;

		if (type == NULL)
			continue;
		if (strcmp(type, "compute") == 0)
			slot = cat->compute;
		else if (strcmp(type, "image") == 0)
			slot = cat->image;
		else if (strcmp(type, "network") == 0)
			slot = cat->network;
		else
			continue;
		if (slot[0] != '\0')
			continue;
		if (pick_endpoint(svc, region, interface, slot, type, err, err_size) < 0)
			goto out;
	}
	if (cat->compute[0] == '\0') {
		snprintf(err, err_size, "catalog has no compute endpoint with interface %s%s%s",
			 interface, region && region[0] ? " in region " : "",
			 region && region[0] ? region : "");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---- servers ---- */

static void copy_scrubbed(char *out, size_t out_size, const char *text)
{
	snprintf(out, out_size, "%s", text);
	osp_scrub(out);
}

static bool addr_ok(const char *a)
{
	unsigned char buf[16];

	return strlen(a) < OSP_ADDR_MAX &&
	       (inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1);
}

/* rank: 3 fixed IPv4 on prefer_net, 2 IPv4 elsewhere, 1 any address. */
static void pick_address(const json_t *addresses, const char *prefer_net, char *out)
{
	const char *net;
	const json_t *list;
	int best = 0;

	json_object_foreach((json_t *)addresses, net, list) {
		const json_t *a;
		size_t i;

		if (!json_is_array(list))
			continue;
		json_array_foreach(list, i, a) {
			const char *addr = str_field(a, "addr"), *type = str_field(a, "OS-EXT-IPS:type");
			const json_t *ver = json_object_get(a, "version");
			bool v4;
			int rank;

			if (addr == NULL || !addr_ok(addr))
				continue;
			v4 = json_is_integer(ver) ? json_integer_value(ver) == 4 : strchr(addr, ':') == NULL;
			rank = 1;
			if (v4)
				rank = 2;
			if (v4 && prefer_net != NULL && strcmp(net, prefer_net) == 0 &&
			    (type == NULL || strcmp(type, "fixed") == 0))
				rank = 3;
			if (rank > best) {
				best = rank;
				snprintf(out, OSP_ADDR_MAX, "%s", addr);
			}
		}
	}
}

static bool status_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= OSP_STATUS_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isupper((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

int osp_parse_server(const char *body, size_t len, const char *prefer_net,
		     struct osp_server *out, char *err, size_t err_size)
{
	json_t *root = load(body, len, err, err_size), *srv, *v;
	const char *s;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	srv = json_object_get(root, "server");
	if (!json_is_object(srv)) {
		snprintf(err, err_size, "server body has no \"server\" object");
		goto out;
	}
	if (copy_id(srv, "server", out->id, sizeof(out->id), err, err_size) != 0)
		goto out;
	if ((v = json_object_get(srv, "status")) != NULL && !json_is_null(v)) {
		s = json_string_value(v);
		if (s == NULL || !status_ok(s)) {
			snprintf(err, err_size, "server %s has an odd \"status\"", out->id);
			goto out;
		}
		snprintf(out->status, sizeof(out->status), "%s", s);
	}
	if ((v = json_object_get(srv, "fault")) != NULL && json_is_object(v)) {
		if ((s = str_field(v, "message")) != NULL)
			copy_scrubbed(out->fault, sizeof(out->fault), s);
		else if (json_is_integer(json_object_get(v, "code")))
			snprintf(out->fault, sizeof(out->fault), "fault code %lld",
				 (long long)json_integer_value(json_object_get(v, "code")));
	}
	if ((v = json_object_get(srv, "addresses")) != NULL && json_is_object(v))
		pick_address(v, prefer_net, out->address);
	if ((v = json_object_get(srv, "metadata")) != NULL && json_is_object(v) &&
	    (s = str_field(v, "overcloud_id")) != NULL && strlen(s) < sizeof(out->overcloud_id))
		snprintf(out->overcloud_id, sizeof(out->overcloud_id), "%s", s);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int osp_find_server(const char *body, size_t len, const char *name, const char *ocid,
		    char *id, size_t id_size, char *err, size_t err_size)
{
	json_t *root = load(body, len, err, err_size), *list, *srv;
	size_t i;
	int rc = -1;

	if (root == NULL)
		return -1;
	list = json_object_get(root, "servers");
	if (!json_is_array(list)) {
		snprintf(err, err_size, "server list has no \"servers\" array");
		goto out;
	}
	rc = 0;
	json_array_foreach(list, i, srv) {
		const char *n = str_field(srv, "name"), *oc;
		const json_t *md = json_object_get(srv, "metadata");

		if (n == NULL || strcmp(n, name) != 0 || !json_is_object(md))
			continue;
		oc = str_field(md, "overcloud_id");
		if (oc == NULL || strcmp(oc, ocid) != 0)
			continue;
		rc = copy_id(srv, "server", id, id_size, err, err_size) == 0 ? 1 : -1;
		break;
	}
out:
	json_decref(root);
	return rc;
}

/* ---- flavors, images, networks ---- */

/* The value of marker= in a next link's query, checked as an id. */
static void next_marker(const json_t *links, char *marker, size_t marker_size)
{
	const json_t *l;
	size_t i;

	marker[0] = '\0';
	if (!json_is_array(links))
		return;
	json_array_foreach(links, i, l) {
		const char *rel = str_field(l, "rel"), *href = str_field(l, "href"), *q, *m, *end;
		char buf[OSP_ID_MAX];
		size_t n;

		if (rel == NULL || href == NULL || strcmp(rel, "next") != 0)
			continue;
		if ((q = strchr(href, '?')) == NULL)
			return;
		for (m = q; (m = strstr(m, "marker=")) != NULL; m++)
			if (m[-1] == '?' || m[-1] == '&')
				break;
		if (m == NULL)
			return;
		m += strlen("marker=");
		end = strchr(m, '&');
		n = end ? (size_t)(end - m) : strlen(m);
		if (n == 0 || n >= sizeof(buf) || n >= marker_size)
			return;
		memcpy(buf, m, n);
		buf[n] = '\0';
		if (osp_id_ok(buf))
			snprintf(marker, marker_size, "%s", buf);
		return;
	}
}

int osp_find_flavor(const char *body, size_t len, const char *want, char *id, size_t id_size,
		    char *marker, size_t marker_size, char *err, size_t err_size)
{
	json_t *root = load(body, len, err, err_size), *list, *f;
	const json_t *by_name = NULL;
	size_t i;
	int rc = -1;

	marker[0] = '\0';
	if (root == NULL)
		return -1;
	list = json_object_get(root, "flavors");
	if (!json_is_array(list)) {
		snprintf(err, err_size, "flavor list has no \"flavors\" array");
		goto out;
	}
	json_array_foreach(list, i, f) {
		const char *fid = str_field(f, "id"), *name = str_field(f, "name");

		if (fid != NULL && strcmp(fid, want) == 0) {
			by_name = f;
			break;
		}
		if (by_name == NULL && name != NULL && strcmp(name, want) == 0)
			by_name = f;
	}
	if (by_name != NULL) {
		rc = copy_id(by_name, "flavor", id, id_size, err, err_size) == 0 ? 1 : -1;
		goto out;
	}
	/* An empty page ends the listing whatever its links say. */
	if (json_array_size(list) > 0)
		next_marker(json_object_get(root, "flavors_links"), marker, marker_size);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int osp_find_named(const char *body, size_t len, const char *list_key, const char *want,
		   char *id, size_t id_size, char *err, size_t err_size)
{
	json_t *root = load(body, len, err, err_size), *list, *e;
	const json_t *found = NULL;
	bool images = strcmp(list_key, "images") == 0;
	size_t i, matches = 0;
	int rc = -1;

	if (root == NULL)
		return -1;
	list = json_object_get(root, list_key);
	if (!json_is_array(list)) {
		snprintf(err, err_size, "list has no \"%s\" array", list_key);
		goto out;
	}
	json_array_foreach(list, i, e) {
		const char *eid = str_field(e, "id"), *name = str_field(e, "name");
		const char *status = str_field(e, "status");

		if (!((eid != NULL && strcmp(eid, want) == 0) ||
		      (name != NULL && strcmp(name, want) == 0)))
			continue;
		if (images && (status == NULL || strcmp(status, "active") != 0))
			continue;
		found = e;
		matches++;
	}
	if (matches > 1) {
		snprintf(err, err_size, "%zu %s match \"%.64s\": give the id", matches, list_key, want);
		goto out;
	}
	rc = 0;
	if (found != NULL)
		rc = copy_id(found, images ? "image" : "network", id, id_size, err, err_size) == 0
			     ? 1 : -1;
out:
	json_decref(root);
	return rc;
}

int osp_parse_image(const char *body, size_t len, char *id, size_t id_size, char *err,
		    size_t err_size)
{
	json_t *root = load(body, len, err, err_size);
	const char *status;
	int rc = -1;

	if (root == NULL)
		return -1;
	if (copy_id(root, "image", id, id_size, err, err_size) != 0)
		goto out;
	status = str_field(root, "status");
	rc = status != NULL && strcmp(status, "active") == 0 ? 1 : 0;
out:
	json_decref(root);
	return rc;
}

/* ---- errors ---- */

/* The longest stretch of s[0, n) in alnum + extra. */
static size_t longest_in(const char *s, size_t n, const char *extra)
{
	size_t best = 0, run = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		run = isalnum(c) || strchr(extra, c) != NULL ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

/* Works on stretches of base64 or base64url characters; one with 40 or more
 * in a row of either alphabet alone goes. The two apart, so that a path with
 * a UUID in it ("servers/1f2c...-...") is not taken for either. Never grows
 * msg: the marker is shorter than what it replaces. */
void osp_scrub(char *msg)
{
	static const char elided[] = "[elided]";
	size_t len = strlen(msg), run = 0, w = 0;

	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)msg[i];

		if (i < len && (isalnum(c) || strchr("+/=-_", c) != NULL)) {
			run++;
			continue;
		}
		/* the stretch msg[i - run, i) is kept, or replaced */
		if (longest_in(msg + i - run, run, "+/=") >= OSP_SCRUB_RUN ||
		    longest_in(msg + i - run, run, "-_=") >= OSP_SCRUB_RUN) {
			memcpy(msg + w, elided, sizeof(elided) - 1);
			w += sizeof(elided) - 1;
		} else {
			memmove(msg + w, msg + i - run, run);
			w += run;
		}
		run = 0;
		if (i < len)
			msg[w++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	msg[w] = '\0';
}

/* text with secrets masked (whole, before any cut) into out, scrubbed. */
static void copy_masked(char *out, size_t out_size, const struct mask *secrets, const char *text)
{
	char *masked = mask_count(secrets) > 0 ? mask_text(secrets, text) : NULL;

	if (mask_count(secrets) > 0 && masked == NULL)
		text = "(message withheld: out of memory masking it)";
	copy_scrubbed(out, out_size, masked ? masked : text);
	free(masked);
}

void osp_error_message(const char *body, size_t len, const struct mask *secrets, char *out,
		       size_t out_size)
{
	char *line;
	json_t *root = NULL, *v;
	const char *key;
	size_t n;

	if (out_size == 0)
		return;
	out[0] = '\0';
	if (body == NULL || len == 0)
		return;
	root = json_loadb(body, len, 0, NULL);
	if (json_is_object(root)) {
		json_object_foreach(root, key, v) {
			const char *m = json_is_object(v) ? str_field(v, "message") : NULL;
			if (m == NULL && strcmp(key, "message") == 0 && json_is_string(v))
				m = json_string_value(v);
			if (m != NULL) {
				copy_masked(out, out_size, secrets, m);
				json_decref(root);
				return;
			}
		}
	}
	json_decref(root);
	/* Not a known shape: the first non-empty line of the text. */
	while (len > 0 && (*body == '\n' || *body == '\r' || *body == ' ')) {
		body++;
		len--;
	}
	for (n = 0; n < len && body[n] != '\n' && body[n] != '\r' && body[n] != '\0'; n++)
		;
	if ((line = strndup(body, n)) == NULL) {
		snprintf(out, out_size, "(message withheld: out of memory)");
		return;
	}
	copy_masked(out, out_size, secrets, line);
	free(line);
}
