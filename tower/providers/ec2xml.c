/* ec2xml.c — bounded XML reader for EC2 answers and the decoders built on it.
 * Owns parsing of untrusted response bytes; the HTTP exchange lives in aws.c. */

/* The reader builds a flat tree (array of nodes, indices for links) in one
 * pass with hard caps on input size, node count and depth, so a hostile or
 * broken endpoint costs at most a few MiB and never recursion. Only leaf text
 * is kept, decoded into one buffer of NUL-terminated strings. */
#include "tower/providers/ec2xml.h"

#include "shared/mask.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 64

struct xnode {
	char name[NAME_MAX_LEN];
	int parent, first_child, last_child, next_sibling;
	size_t text_off;              /* into text; valid for leaves */
	bool has_children;
};

struct ec2xml {
	struct xnode *nodes;
	int count, cap;
	char *text;
	size_t text_len, text_cap;
};

struct reader {
	const char *p, *end;
	struct ec2xml *x;
	int stack[EC2XML_MAX_DEPTH];
	int depth;
	bool root_done;
	char *err;
	size_t err_size;
};

/* Keeps the first, most precise reason; ec2xml_parse adds the offset. */
static int fail(struct reader *r, const char *what)
{
	if (r->err[0] == '\0')
		snprintf(r->err, r->err_size, "%s", what);
	return -1;
}

static bool starts(const struct reader *r, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(r->end - r->p) >= n && memcmp(r->p, s, n) == 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == ':' || c >= 0x80;
}

/* Skips to just after the terminator; -1 when the input ends first. */
static int skip_past(struct reader *r, const char *term)
{
	size_t n = strlen(term);

	while ((size_t)(r->end - r->p) >= n) {
		if (memcmp(r->p, term, n) == 0) {
			r->p += n;
			return 0;
		}
		r->p++;
	}
	return -1;
}

static void text_put(struct ec2xml *x, const char *s, size_t n)
{
	/* text_cap was sized from the input length: decoding never grows text
	 * beyond the raw bytes plus one NUL per element */
	memcpy(x->text + x->text_len, s, n);
	x->text_len += n;
}

static void put_utf8(struct ec2xml *x, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	text_put(x, b, n);
}

/* One entity or character reference at r->p ('&'). */
static int entity(struct reader *r)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
	uint32_t cp = 0;
	int digits = 0;
	bool hex;

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (starts(r, named[i].name)) {
			text_put(r->x, &named[i].c, 1);
			r->p += strlen(named[i].name);
			return 0;
		}
	}
	if (!starts(r, "&#"))
		return fail(r, "unknown entity");
	r->p += 2;
	hex = r->p < r->end && *r->p == 'x';
	if (hex)
		r->p++;
	for (; r->p < r->end && *r->p != ';'; r->p++, digits++) {
		char c = *r->p;
		int v = c >= '0' && c <= '9' ? c - '0'
			: hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
			: hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
						       : -1;
		if (v < 0 || digits >= 8)
			return fail(r, "bad character reference");
		cp = cp * (hex ? 16 : 10) + (uint32_t)v;
	}
	if (r->p >= r->end || digits == 0 || cp == 0 || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return fail(r, "bad character reference");
	r->p++;
	put_utf8(r->x, cp);
	return 0;
}

static int open_element(struct reader *r)
{
	struct ec2xml *x = r->x;
	const char *start = ++r->p, *local;
	struct xnode *n;
	size_t len;
	int idx, parent;

	while (r->p < r->end && name_char((unsigned char)*r->p))
		r->p++;
	len = (size_t)(r->p - start);
	if (len == 0 || len >= NAME_MAX_LEN)
		return fail(r, "bad element name");
	if (r->depth == 0 && r->root_done)
		return fail(r, "second root element");
	if (r->depth == EC2XML_MAX_DEPTH)
		return fail(r, "elements nested too deep");
	if (x->count == x->cap)
		return fail(r, "too many elements");
	local = memrchr(start, ':', len);
	local = local ? local + 1 : start;
	idx = x->count++;
	n = &x->nodes[idx];
	memset(n, 0, sizeof(*n));
	memcpy(n->name, local, len - (size_t)(local - start));
	n->first_child = n->last_child = n->next_sibling = -1;
	parent = r->depth > 0 ? r->stack[r->depth - 1] : -1;
	n->parent = parent;
	if (parent >= 0) {
		struct xnode *pn = &x->nodes[parent];
		pn->has_children = true;
		if (pn->last_child >= 0)
			x->nodes[pn->last_child].next_sibling = idx;
		else
			pn->first_child = idx;
		pn->last_child = idx;
	}
	/* attributes: name="value" or name='value', skipped */
	for (;;) {
		while (r->p < r->end && is_space(*r->p))
			r->p++;
		if (r->p >= r->end)
			return fail(r, "unterminated tag");
		if (*r->p == '>' || starts(r, "/>"))
			break;
		start = r->p;
		while (r->p < r->end && name_char((unsigned char)*r->p))
			r->p++;
		if (r->p == start)
			return fail(r, "bad attribute");
		while (r->p < r->end && is_space(*r->p))
			r->p++;
		if (r->p >= r->end || *r->p != '=')
			return fail(r, "attribute without value");
		r->p++;
		while (r->p < r->end && is_space(*r->p))
			r->p++;
		if (r->p >= r->end || (*r->p != '"' && *r->p != '\''))
			return fail(r, "unquoted attribute");
		char quote = *r->p++;
		const char *close = memchr(r->p, quote, (size_t)(r->end - r->p));
		if (close == NULL || memchr(r->p, '<', (size_t)(close - r->p)) != NULL)
			return fail(r, "bad attribute value");
		r->p = close + 1;
	}
	n->text_off = x->text_len;
	if (*r->p == '/') {
		r->p += 2;
		x->text[x->text_len++] = '\0';
		if (r->depth == 0)
			r->root_done = true;
		return 0;
	}
	r->p++;
	r->stack[r->depth++] = idx;
	return 0;
}

static int close_element(struct reader *r)
{
	struct ec2xml *x = r->x;
	const char *start = r->p + 2, *local;
	struct xnode *n;
	size_t len;

	r->p = start;
	while (r->p < r->end && name_char((unsigned char)*r->p))
		r->p++;
	len = (size_t)(r->p - start);
	while (r->p < r->end && is_space(*r->p))
		r->p++;
	if (r->p >= r->end || *r->p != '>')
		return fail(r, "bad end tag");
	r->p++;
	if (r->depth == 0)
		return fail(r, "end tag without start tag");
	n = &x->nodes[r->stack[r->depth - 1]];
	local = len ? memrchr(start, ':', len) : NULL;
	local = local ? local + 1 : start;
	len -= (size_t)(local - start);
	if (len != strlen(n->name) || memcmp(local, n->name, len) != 0)
		return fail(r, "end tag does not match start tag");
	/* a leaf's text is contiguous in text: terminate it */
	x->text[x->text_len++] = '\0';
	if (n->has_children)
		n->text_off = x->text_len - 1;   /* "" */
	r->depth--;
	if (r->depth == 0)
		r->root_done = true;
	return 0;
}

static int parse(struct reader *r)
{
	while (r->p < r->end) {
		char c = *r->p;

		if (c == '<') {
			int rc;
			if (starts(r, "<?"))
				rc = skip_past(r, "?>");
			else if (starts(r, "<!--"))
				rc = skip_past(r, "-->");
			else if (starts(r, "<![CDATA[")) {
				const char *s = r->p + 9;
				if (r->depth == 0)
					return fail(r, "text outside the root element");
				r->p = s;
				if (skip_past(r, "]]>") != 0)
					return fail(r, "unterminated CDATA");
				text_put(r->x, s, (size_t)(r->p - 3 - s));
				continue;
			} else if (starts(r, "<!"))
				return fail(r, "DTDs are not accepted");
			else if (starts(r, "</"))
				rc = close_element(r);
			else
				rc = open_element(r);
			if (rc != 0)
				return fail(r, "unterminated markup");
			continue;
		}
		if (r->depth == 0) {
			if (!is_space(c))
				return fail(r, "text outside the root element");
			r->p++;
			continue;
		}
		if (c == '&') {
			if (entity(r) != 0)
				return -1;
			continue;
		}
		if (c == '\0')
			return fail(r, "NUL byte");
		const char *s = r->p;
		while (r->p < r->end && *r->p != '<' && *r->p != '&' && *r->p != '\0')
			r->p++;
		text_put(r->x, s, (size_t)(r->p - s));
	}
	if (r->depth != 0)
		return fail(r, "document ends inside an element");
	if (!r->root_done)
		return fail(r, "no root element");
	return 0;
}

struct ec2xml *ec2xml_parse(const char *buf, size_t len, char *err, size_t err_size)
{
	struct reader r = {0};
	struct ec2xml *x;
	char msg[200] = "";

	if (len > EC2XML_MAX_INPUT) {
		snprintf(err, err_size, "xml answer of %zu bytes is over the %u byte limit", len,
			 EC2XML_MAX_INPUT);
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		goto oom;
	/* a start tag takes at least 3 bytes ("<a>"): no need for more nodes */
	x->cap = len / 3 + 1 < EC2XML_MAX_NODES ? (int)(len / 3 + 1) : EC2XML_MAX_NODES;
	x->nodes = calloc((size_t)x->cap, sizeof(*x->nodes));
	x->text_cap = 2 * len + 16;
	x->text = malloc(x->text_cap);
	if (x->nodes == NULL || x->text == NULL)
		goto oom;
	r.p = buf;
	r.end = buf + len;
	r.x = x;
	r.err = msg;
	r.err_size = sizeof(msg);
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		r.p += 3;
	if (parse(&r) != 0) {
		snprintf(err, err_size, "bad xml at byte %zu: %s", (size_t)(r.p - buf), msg);
		ec2xml_free(x);
		return NULL;
	}
	return x;
oom:
	ec2xml_free(x);
	snprintf(err, err_size, "out of memory");
	return NULL;
}

void ec2xml_free(struct ec2xml *x)
{
	if (x == NULL)
		return;
	free(x->nodes);
	free(x->text);
	free(x);
}

static bool node_ok(const struct ec2xml *x, int node)
{
	return x != NULL && node >= 0 && node < x->count;
}

int ec2xml_child(const struct ec2xml *x, int node, const char *name)
{
	if (!node_ok(x, node))
		return -1;
	for (int c = x->nodes[node].first_child; c >= 0; c = x->nodes[c].next_sibling)
		if (strcmp(x->nodes[c].name, name) == 0)
			return c;
	return -1;
}

int ec2xml_next(const struct ec2xml *x, int node)
{
	if (!node_ok(x, node))
		return -1;
	for (int c = x->nodes[node].next_sibling; c >= 0; c = x->nodes[c].next_sibling)
		if (strcmp(x->nodes[c].name, x->nodes[node].name) == 0)
			return c;
	return -1;
}

int ec2xml_path(const struct ec2xml *x, int node, const char *path)
{
	char part[NAME_MAX_LEN];

	while (node >= 0 && *path != '\0') {
		const char *slash = strchr(path, '/');
		size_t len = slash ? (size_t)(slash - path) : strlen(path);
		if (len >= sizeof(part))
			return -1;
		memcpy(part, path, len);
		part[len] = '\0';
		node = ec2xml_child(x, node, part);
		path += len + (slash ? 1 : 0);
	}
	return node;
}

const char *ec2xml_name(const struct ec2xml *x, int node)
{
	return node_ok(x, node) ? x->nodes[node].name : "";
}

const char *ec2xml_text(const struct ec2xml *x, int node)
{
	if (!node_ok(x, node) || x->nodes[node].has_children)
		return "";
	return x->text + x->nodes[node].text_off;
}

/* ---- EC2 answers ---- */

/* Copies text keeping one printable line: control characters become spaces,
 * and the copy is cut (on a UTF-8 boundary) to fit. */
static void copy_line(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; *src != '\0' && n + 1 < size; src++) {
		unsigned char c = (unsigned char)*src;
		dst[n++] = (char)(c < 32 || c == 127 ? ' ' : c);
	}
	while (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0x80 && *src != '\0')
		n--;
	if (n > 0 && (unsigned char)dst[n - 1] >= 0xc0 && *src != '\0')
		n--;
	dst[n] = '\0';
}

static void copy_code(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; *src != '\0' && n + 1 < size; src++) {
		char c = *src;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			dst[n++] = c;
	}
	dst[n] = '\0';
}

int ec2xml_error(const char *body, size_t len, const struct mask *secrets, struct ec2_error *out)
{
	char err[64];
	struct ec2xml *x = ec2xml_parse(body, len, err, sizeof(err));
	int e, rc = -1;

	memset(out, 0, sizeof(*out));
	if (x == NULL)
		return -1;
	/* <Response><Errors><Error>; some AWS query services answer <ErrorResponse><Error> */
	e = ec2xml_path(x, 0, "Errors/Error");
	if (e < 0)
		e = ec2xml_child(x, 0, "Error");
	if (e >= 0) {
		copy_code(out->code, sizeof(out->code), ec2xml_text(x, ec2xml_child(x, e, "Code")));
		const char *message = ec2xml_text(x, ec2xml_child(x, e, "Message"));
		char *masked = mask_count(secrets) > 0 ? mask_text(secrets, message) : NULL;
		if (mask_count(secrets) > 0 && masked == NULL)
			message = "(message withheld: out of memory masking it)";
		copy_line(out->message, sizeof(out->message), masked ? masked : message);
		free(masked);
		int id = ec2xml_child(x, 0, "RequestID");
		if (id < 0)
			id = ec2xml_child(x, 0, "RequestId");
		copy_code(out->request_id, sizeof(out->request_id), ec2xml_text(x, id));
		rc = out->code[0] != '\0' ? 0 : -1;
	}
	ec2xml_free(x);
	return rc;
}

int ec2xml_instance_id_ok(const char *id)
{
	size_t n;

	if (id == NULL || strncmp(id, "i-", 2) != 0)
		return 0;
	n = strlen(id + 2);
	if (n == 0 || n > 32)
		return 0;
	for (const char *p = id + 2; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static bool state_ok(const char *s)
{
	static const char *const states[] = {"pending",  "running",  "shutting-down",
					     "terminated", "stopping", "stopped"};
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(s, states[i]) == 0)
			return true;
	return false;
}

static bool ip_ok(const char *s)
{
	unsigned char buf[16];

	return s[0] == '\0' || inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Fills out from an instancesSet <item>; state from state_elem
 * (instanceState or currentState). */
static int read_instance(const struct ec2xml *x, int item, const char *state_elem,
			 struct ec2_instance *out, char *err, size_t err_size)
{
	const char *id = ec2xml_text(x, ec2xml_child(x, item, "instanceId"));
	const char *state = ec2xml_text(x, ec2xml_path(x, item, state_elem));
	const char *ip = ec2xml_text(x, ec2xml_child(x, item, "privateIpAddress"));

	if (!ec2xml_instance_id_ok(id)) {
		snprintf(err, err_size, "answer has no valid instanceId");
		return -1;
	}
	if (!state_ok(state)) {
		snprintf(err, err_size, "instance %s: unknown state", id);
		return -1;
	}
	if (strlen(ip) >= EC2_IP_MAX || !ip_ok(ip)) {
		snprintf(err, err_size, "instance %s: bad privateIpAddress", id);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(out->state, sizeof(out->state), "%s", state);
	snprintf(out->private_ip, sizeof(out->private_ip), "%s", ip);
	return 0;
}

static struct ec2xml *parse_answer(const char *body, size_t len, const char *root, char *err,
				   size_t err_size)
{
	struct ec2xml *x = ec2xml_parse(body, len, err, err_size);

	if (x != NULL && strcmp(ec2xml_name(x, 0), root) != 0) {
		snprintf(err, err_size, "answer is not a %s", root);
		ec2xml_free(x);
		return NULL;
	}
	return x;
}

int ec2xml_run_instances(const char *body, size_t len, struct ec2_instance *out, char *err,
			 size_t err_size)
{
	struct ec2xml *x = parse_answer(body, len, "RunInstancesResponse", err, err_size);
	int item, rc = -1;

	if (x == NULL)
		return -1;
	item = ec2xml_path(x, 0, "instancesSet/item");
	if (item < 0)
		snprintf(err, err_size, "RunInstancesResponse without an instance");
	else if (ec2xml_next(x, item) >= 0)
		snprintf(err, err_size, "RunInstancesResponse with more than one instance");
	else
		rc = read_instance(x, item, "instanceState/name", out, err, err_size);
	ec2xml_free(x);
	return rc;
}

int ec2xml_describe_instance(const char *body, size_t len, const char *id,
			     struct ec2_instance *out, char *err, size_t err_size)
{
	struct ec2xml *x = parse_answer(body, len, "DescribeInstancesResponse", err, err_size);
	int rc = 0;

	if (x == NULL)
		return -1;
	if (ec2xml_child(x, 0, "reservationSet") < 0) {
		snprintf(err, err_size, "DescribeInstancesResponse without reservationSet");
		rc = -1;
	}
	for (int res = ec2xml_path(x, 0, "reservationSet/item"); rc == 0 && res >= 0;
	     res = ec2xml_next(x, res)) {
		for (int it = ec2xml_path(x, res, "instancesSet/item"); it >= 0; it = ec2xml_next(x, it)) {
			if (id != NULL && strcmp(ec2xml_text(x, ec2xml_child(x, it, "instanceId")), id) != 0)
				continue;
			rc = read_instance(x, it, "instanceState/name", out, err, err_size) == 0 ? 1 : -1;
			break;
		}
	}
	ec2xml_free(x);
	return rc;
}

int ec2xml_terminate_instance(const char *body, size_t len, const char *id,
			      struct ec2_instance *out, char *err, size_t err_size)
{
	struct ec2xml *x = parse_answer(body, len, "TerminateInstancesResponse", err, err_size);
	int rc = 0;

	if (x == NULL)
		return -1;
	for (int it = ec2xml_path(x, 0, "instancesSet/item"); it >= 0; it = ec2xml_next(x, it)) {
		if (strcmp(ec2xml_text(x, ec2xml_child(x, it, "instanceId")), id) != 0)
			continue;
		rc = read_instance(x, it, "currentState/name", out, err, err_size) == 0 ? 1 : -1;
		break;
	}
	ec2xml_free(x);
	return rc;
}
