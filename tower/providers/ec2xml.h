/* ec2xml.h — reads the EC2 Query API's XML answers: a small bounded XML reader
 * and decoders for errors, RunInstances, DescribeInstances, TerminateInstances. */
#ifndef OC_EC2XML_H
#define OC_EC2XML_H

#include <stddef.h>

#define EC2XML_MAX_INPUT (1u << 20)   /* bigger answers are refused, not read */
#define EC2XML_MAX_NODES 8192
#define EC2XML_MAX_DEPTH 32

#define EC2_ID_MAX 40                 /* "i-" + up to 32 hex digits + NUL */
#define EC2_STATE_MAX 16
#define EC2_IP_MAX 64

struct ec2xml;

/* Parses a whole document (elements, attributes skipped, text with the five
 * XML entities and character references, CDATA, comments, processing
 * instructions; no DTD). Element names lose their namespace prefix.
 * Returns NULL with a reason in err. Caller frees with ec2xml_free. */
struct ec2xml *ec2xml_parse(const char *buf, size_t len, char *err, size_t err_size);
void ec2xml_free(struct ec2xml *x);

/* Node 0 is the root element. -1 means "none" everywhere. */
int ec2xml_child(const struct ec2xml *x, int node, const char *name);
/* The next sibling of node with the same name. */
int ec2xml_next(const struct ec2xml *x, int node);
/* "a/b/c" below node, first match at each step. */
int ec2xml_path(const struct ec2xml *x, int node, const char *path);
const char *ec2xml_name(const struct ec2xml *x, int node);
/* Text of a leaf element ("" for an element with children). */
const char *ec2xml_text(const struct ec2xml *x, int node);

/* An EC2 error answer: <Response><Errors><Error><Code/><Message/></Error>
 * </Errors><RequestID/></Response>. Code and request id keep only [A-Za-z0-9._-]; message is
 * one printable line, its secrets masked (shared/mask.h) before it is cut to fit. */
struct ec2_error {
	char code[64];
	char message[320];
	char request_id[80];
};

struct mask;

/* Returns 0 when body is an EC2 error document, -1 otherwise. secrets (may
 * be NULL) are masked in the whole message before it is cut to fit: EC2
 * quotes the request in some messages (SignatureDoesNotMatch quotes the
 * canonical request with the session token). */
int ec2xml_error(const char *body, size_t len, const struct mask *secrets, struct ec2_error *out);

struct ec2_instance {
	char id[EC2_ID_MAX];          /* "i-0123456789abcdef0" */
	char state[EC2_STATE_MAX];    /* pending, running, shutting-down, terminated, stopping, stopped */
	char private_ip[EC2_IP_MAX];  /* "" while not yet known */
};

/* RunInstancesResponse with exactly one instance. Returns 0 or -1 with err. */
int ec2xml_run_instances(const char *body, size_t len, struct ec2_instance *out, char *err,
			 size_t err_size);

/* DescribeInstancesResponse: the instance id (NULL: the first one) among its
 * reservations. Returns 1 when found (out filled), 0 when absent, -1 on a bad
 * document. */
int ec2xml_describe_instance(const char *body, size_t len, const char *id,
			     struct ec2_instance *out, char *err, size_t err_size);

/* TerminateInstancesResponse: id's currentState into out->state.
 * Returns 1 when found, 0 when absent, -1 on a bad document. */
int ec2xml_terminate_instance(const char *body, size_t len, const char *id,
			      struct ec2_instance *out, char *err, size_t err_size);

/* "i-" followed by 1..32 lower-case hex digits. */
int ec2xml_instance_id_ok(const char *id);

#endif
