/* aws.c — the `aws` provider: EC2 instances through the EC2 Query API, SigV4-signed.
 * Owns [aws] config + AWS_* environment, retries and instance life; not signing or XML. */

/* A node is one instance: RunInstances (ImageId, InstanceType = the request's
 * size, SubnetId, SecurityGroupId.1, base64 UserData, MinCount = MaxCount = 1,
 * a ClientToken so that retries never make a second instance, tags
 * overcloud:id, overcloud:node and Name), then DescribeInstances until it is
 * `running` (its PrivateIpAddress is the node's address). Destroy is
 * TerminateInstances and DescribeInstances until `terminated`; an instance
 * EC2 does not know is already gone. An instance that does not reach
 * `running` in time is terminated before create_node fails, so a failed
 * create leaves nothing behind.
 *
 * Every call is a POST of Action=...&Version=2016-11-15&... to the endpoint,
 * signed with SigV4 (service "ec2"). RequestLimitExceeded, throttling,
 * 5xx answers and transport failures are retried with capped exponential
 * backoff and full jitter, a bounded number of times.
 *
 * Settings come from tower.conf [aws] (region, endpoint, image, subnet,
 * security_group, instance_type, access_key_id, secret_access_key,
 * session_token, ca_bundle, boot_timeout, terminate_timeout, poll_interval,
 * max_tries, retry_base, retry_cap); the standard AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (AWS_DEFAULT_REGION),
 * AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL and AWS_CA_BUNDLE override them.
 * The secret key and session token live only in this context: they are never
 * logged, are scrubbed from any message EC2 sends back, and are wiped on close.
 *
 * The context is read-only after open; each call has its own curl handle, so
 * calls from several threads need no lock. */
#include "tower/providers/provider.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/base64.h>

#include "shared/log.h"
#include "shared/mask.h"
#include "shared/util.h"
#include "tower/config.h"
#include "tower/httpclient.h"
#include "tower/providers/ec2xml.h"
#include "tower/providers/sigv4.h"

#define EC2_API_VERSION "2016-11-15"
#define EC2_SERVICE "ec2"
#define AWS_USER_DATA_MAX 16384         /* EC2: user data is limited to 16 KB before base64 */
#define AWS_DEFAULT_INSTANCE_TYPE "t3.small"
#define AWS_DEFAULT_BOOT_S 600
#define AWS_DEFAULT_TERMINATE_S 600
#define AWS_DEFAULT_POLL_MS 5000
#define AWS_DEFAULT_TRIES 6
#define AWS_DEFAULT_RETRY_BASE_MS 500
#define AWS_DEFAULT_RETRY_CAP_MS 20000
#define AWS_MAX_TRIES 20
#define AWS_REQUEST_TIMEOUT_S 60L
#define AWS_ANSWER_MAX EC2XML_MAX_INPUT
#define AWS_TAG_MAX 256                 /* EC2 tag value limit */
#define AWS_FIELD_MAX 256

struct aws_ctx {
	char region[64];
	char url[512];                    /* https://host[:port]/path */
	char host[300];                   /* the Host header, as signed */
	char path[256];
	char image[AWS_FIELD_MAX], subnet[AWS_FIELD_MAX], security_group[AWS_FIELD_MAX];
	char instance_type[64];
	char ca_bundle[1024];
	char *access_key_id, *secret_access_key, *session_token;   /* owned; wiped on close */
	struct mask *secrets;             /* the secret key and session token, masked in messages */
	int64_t boot_ms, terminate_ms, poll_ms, retry_base_ms, retry_cap_ms;
	int max_tries;
	atomic_uint_fast64_t calls;       /* API requests sent, for the log */
};

/* What one EC2 call ended with. */
enum call_result {
	CALL_OK = 0,
	CALL_EC2_ERROR = 1,               /* EC2 answered an error document (e.code) */
	CALL_FAILED = -1,                 /* a failure that retrying cannot mend */
	CALL_GAVE_UP = -2,                /* transient failures (5xx, throttling, transport)
	                                   * until the tries were spent: EC2 may or may not
	                                   * have acted */
};

/* ---- settings ---- */

static void secret_free(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

static const char *setting(const struct provider_env *env, const char *key, const char *env_name)
{
	const char *v = env_name ? env_nonempty(env_name) : NULL;

	if (v == NULL && env->config != NULL)
		v = config_get(env->config, "aws", key);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* "250ms", "2s", "5m", "1h" or plain seconds -> milliseconds. */
static int parse_ms(const char *text, int64_t *ms)
{
	int64_t v;
	size_t len = strlen(text);

	if (len > 2 && strcmp(text + len - 2, "ms") == 0) {
		char num[32];
		if (len - 2 >= sizeof(num))
			return -1;
		memcpy(num, text, len - 2);
		num[len - 2] = '\0';
		if (util_parse_int(num, 0, INT64_C(1) << 40, &v) != 0)
			return -1;
		*ms = v;
		return 0;
	}
	if (util_parse_duration(text, &v) != 0 || v < 0 || v > (INT64_C(1) << 30))
		return -1;
	*ms = v * 1000;
	return 0;
}

static int read_ms(const struct provider_env *env, const char *key, int64_t def, int64_t min,
		   int64_t *out, char *err, size_t err_size)
{
	const char *v = setting(env, key, NULL);

	*out = def;
	if (v == NULL)
		return 0;
	if (parse_ms(v, out) != 0 || *out < min) {
		snprintf(err, err_size, "aws: [aws] %s: bad duration \"%s\"", key, v);
		return -1;
	}
	return 0;
}

static bool plain_value(const char *v, size_t max)
{
	if (strlen(v) >= max)
		return false;
	for (; *v != '\0'; v++)
		if ((unsigned char)*v <= ' ' || *v == 127)
			return false;
	return true;
}

/* Splits an https:// endpoint into the Host header and the path. */
static int parse_endpoint(struct aws_ctx *c, const char *url, char *err, size_t err_size)
{
	const char *host = url + 8, *slash;
	size_t host_len;

	if (strncasecmp(url, "https://", 8) != 0 || !plain_value(url, sizeof(c->url))) {
		snprintf(err, err_size, "aws: endpoint \"%.200s\" must be an https:// URL", url);
		return -1;
	}
	slash = strchr(host, '/');
	host_len = slash ? (size_t)(slash - host) : strlen(host);
	if (host_len == 0 || host_len >= sizeof(c->host) || memchr(host, '@', host_len) != NULL ||
	    (slash != NULL && strpbrk(slash, "?#") != NULL)) {
		snprintf(err, err_size, "aws: endpoint \"%.200s\" is not https://HOST[:PORT][/PATH]", url);
		return -1;
	}
	memcpy(c->host, host, host_len);
	c->host[host_len] = '\0';
	for (char *p = c->host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	snprintf(c->path, sizeof(c->path), "%s", slash ? slash : "/");
	snprintf(c->url, sizeof(c->url), "https://%s%s", c->host, c->path);
	return 0;
}

static int copy_setting(char *dst, size_t size, const char *value, const char *key, char *err,
			size_t err_size)
{
	if (value == NULL)
		return 0;
	if (!plain_value(value, size)) {
		snprintf(err, err_size, "aws: [aws] %s: bad value", key);
		return -1;
	}
	snprintf(dst, size, "%s", value);
	return 0;
}

static void aws_close(void *ctx)
{
	struct aws_ctx *c = ctx;

	if (c == NULL)
		return;
	secret_free(&c->access_key_id);
	secret_free(&c->secret_access_key);
	secret_free(&c->session_token);
	mask_free(c->secrets);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

static void *aws_open(const struct provider_env *env, char *err, size_t err_size)
{
	struct aws_ctx *c = calloc(1, sizeof(*c));
	const char *region, *endpoint, *key_id, *secret, *token, *ca, *v;
	char def_url[512];
	int64_t tries;

	if (c == NULL) {
		snprintf(err, err_size, "aws: out of memory");
		return NULL;
	}
	region = env_nonempty("AWS_REGION");
	if (region == NULL)
		region = env_nonempty("AWS_DEFAULT_REGION");
	if (region == NULL)
		region = setting(env, "region", NULL);
	if (region == NULL) {
		snprintf(err, err_size, "aws: no region: set AWS_REGION or [aws] region");
		goto fail;
	}
	if (strlen(region) >= sizeof(c->region) || strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
							 strlen(region)) {
		snprintf(err, err_size, "aws: bad region \"%.64s\"", region);
		goto fail;
	}
	snprintf(c->region, sizeof(c->region), "%s", region);

	endpoint = env_nonempty("AWS_ENDPOINT_URL_EC2");
	if (endpoint == NULL)
		endpoint = env_nonempty("AWS_ENDPOINT_URL");
	if (endpoint == NULL)
		endpoint = setting(env, "endpoint", NULL);
	if (endpoint == NULL) {
		snprintf(def_url, sizeof(def_url), "https://ec2.%s.amazonaws.com/", c->region);
		endpoint = def_url;
	}
	if (parse_endpoint(c, endpoint, err, err_size) != 0)
		goto fail;

	/* Keys from the environment come as a set: a session token of the config
	 * file must not be paired with other keys. */
	if (env_nonempty("AWS_ACCESS_KEY_ID") != NULL || env_nonempty("AWS_SECRET_ACCESS_KEY") != NULL) {
		key_id = env_nonempty("AWS_ACCESS_KEY_ID");
		secret = env_nonempty("AWS_SECRET_ACCESS_KEY");
		token = env_nonempty("AWS_SESSION_TOKEN");
	} else {
		key_id = setting(env, "access_key_id", NULL);
		secret = setting(env, "secret_access_key", NULL);
		token = setting(env, "session_token", NULL);
	}
	if (key_id == NULL || secret == NULL) {
		snprintf(err, err_size,
			 "aws: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
			 "[aws] access_key_id and secret_access_key");
		goto fail;
	}
	if (!plain_value(key_id, 128) || strchr(key_id, '/') != NULL || strchr(key_id, ',') != NULL ||
	    !plain_value(secret, 1024) || (token != NULL && !plain_value(token, 8192))) {
		snprintf(err, err_size, "aws: malformed credentials (blank or control characters)");
		goto fail;
	}
	c->access_key_id = strdup(key_id);
	c->secret_access_key = strdup(secret);
	c->session_token = token ? strdup(token) : NULL;
	if (c->access_key_id == NULL || c->secret_access_key == NULL || (token && !c->session_token) ||
	    (c->secrets = mask_new()) == NULL ||
	    mask_add(c->secrets, c->secret_access_key, strlen(c->secret_access_key)) != 0 ||
	    (token && mask_add(c->secrets, c->session_token, strlen(c->session_token)) != 0)) {
		snprintf(err, err_size, "aws: out of memory");
		goto fail;
	}

	ca = setting(env, "ca_bundle", "AWS_CA_BUNDLE");
	if (ca != NULL) {
		if (strlen(ca) >= sizeof(c->ca_bundle) || access(ca, R_OK) != 0) {
			snprintf(err, err_size, "aws: CA bundle %.200s: %s", ca,
				 strlen(ca) >= sizeof(c->ca_bundle) ? "path too long" : strerror(errno));
			goto fail;
		}
		snprintf(c->ca_bundle, sizeof(c->ca_bundle), "%s", ca);
	}
	if (copy_setting(c->image, sizeof(c->image), setting(env, "image", NULL), "image", err,
			 err_size) != 0 ||
	    copy_setting(c->subnet, sizeof(c->subnet), setting(env, "subnet", NULL), "subnet", err,
			 err_size) != 0 ||
	    copy_setting(c->security_group, sizeof(c->security_group),
			 setting(env, "security_group", NULL), "security_group", err, err_size) != 0 ||
	    copy_setting(c->instance_type, sizeof(c->instance_type),
			 setting(env, "instance_type", NULL), "instance_type", err, err_size) != 0)
		goto fail;
	if (c->image[0] == '\0') {
		snprintf(err, err_size, "aws: no image: set [aws] image to an AMI id (ami-...)");
		goto fail;
	}
	if (c->instance_type[0] == '\0')
		snprintf(c->instance_type, sizeof(c->instance_type), AWS_DEFAULT_INSTANCE_TYPE);
	if (read_ms(env, "boot_timeout", AWS_DEFAULT_BOOT_S * 1000, 1000, &c->boot_ms, err, err_size) != 0 ||
	    read_ms(env, "terminate_timeout", AWS_DEFAULT_TERMINATE_S * 1000, 1000, &c->terminate_ms, err,
		    err_size) != 0 ||
	    read_ms(env, "poll_interval", AWS_DEFAULT_POLL_MS, 10, &c->poll_ms, err, err_size) != 0 ||
	    read_ms(env, "retry_base", AWS_DEFAULT_RETRY_BASE_MS, 1, &c->retry_base_ms, err, err_size) != 0 ||
	    read_ms(env, "retry_cap", AWS_DEFAULT_RETRY_CAP_MS, 1, &c->retry_cap_ms, err, err_size) != 0)
		goto fail;
	c->max_tries = AWS_DEFAULT_TRIES;
	v = setting(env, "max_tries", NULL);
	if (v != NULL) {
		if (util_parse_int(v, 1, AWS_MAX_TRIES, &tries) != 0) {
			snprintf(err, err_size, "aws: [aws] max_tries: want 1..%d", AWS_MAX_TRIES);
			goto fail;
		}
		c->max_tries = (int)tries;
	}
	log_info("aws: region %s, endpoint %s, image %s, %s credentials%s", c->region, c->url, c->image,
		 env_nonempty("AWS_ACCESS_KEY_ID") ? "environment" : "tower.conf",
		 c->session_token ? " with a session token" : "");
	return c;
fail:
	aws_close(c);
	return NULL;
}

/* ---- messages ---- */

/* ---- form bodies ---- */

struct form {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void form_add(struct form *f, const char *key, const char *value)
{
	char *k, *v;
	size_t need;

	if (f->failed)
		return;
	k = sigv4_uri_encode(key, strlen(key), false);
	v = sigv4_uri_encode(value, strlen(value), false);
	if (k == NULL || v == NULL)
		goto fail;
	need = f->len + strlen(k) + strlen(v) + 3;
	if (need > f->cap) {
		size_t cap = f->cap ? f->cap : 1024;
		while (cap < need)
			cap *= 2;
		char *p = realloc(f->buf, cap);
		if (p == NULL)
			goto fail;
		f->buf = p;
		f->cap = cap;
	}
	f->len += (size_t)snprintf(f->buf + f->len, f->cap - f->len, "%s%s=%s", f->len ? "&" : "", k, v);
	free(k);
	free(v);
	return;
fail:
	free(k);
	free(v);
	f->failed = true;
}

static void form_free(struct form *f)
{
	/* bodies carry user data, whose join token is a secret of the node */
	if (f->buf != NULL)
		explicit_bzero(f->buf, f->cap);
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

/* ---- one signed call, with retries ---- */

static bool retryable(const char *code, long status)
{
	static const char *const codes[] = {
		"RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled",
		"Unavailable", "ServiceUnavailable", "InternalError", "InternalFailure",
		"InsufficientInstanceCapacity",
	};

	if (status >= 500)
		return true;
	for (size_t i = 0; i < OC_ARRAY_LEN(codes); i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Full jitter: uniform in [0, min(cap, base * 2^attempt)], at least 1 ms. */
static int64_t backoff_ms(const struct aws_ctx *c, int attempt)
{
	int64_t ceiling = c->retry_base_ms;
	uint32_t r = 0;

	for (int i = 0; i < attempt && ceiling < c->retry_cap_ms; i++)
		ceiling *= 2;
	if (ceiling > c->retry_cap_ms)
		ceiling = c->retry_cap_ms;
	(void)util_random(&r, sizeof(r));
	return 1 + (int64_t)(r % (uint64_t)(ceiling + 1));
}

/* Sends one signed request: 0 with an answer, else httpclient_do's failure. */
static int send_once(struct aws_ctx *c, const struct form *f, struct httpclient_answer *ans,
		     char *err, size_t err_size)
{
	char date[SIGV4_AMZ_DATE_LEN + 1], *authz_line = NULL, *token_line = NULL;
	char host_line[sizeof(c->host) + 8], date_line[64];
	struct sigv4_header h[4] = {
		{"Host", c->host},
		{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
		{"X-Amz-Date", date},
		{"X-Amz-Security-Token", c->session_token},
	};
	struct sigv4_scope scope = {c->access_key_id, c->secret_access_key, c->region, EC2_SERVICE, date};
	struct sigv4_request sreq = {"POST", c->path, NULL, h, c->session_token ? 4 : 3, f->buf, f->len};
	struct sigv4_result sig;
	const char *lines[5];
	size_t n = 0;
	int rc = -1;

	sigv4_amz_date(time(NULL), date);
	if (sigv4_sign(&scope, &sreq, &sig, err, err_size) != 0)
		return -1;
	snprintf(host_line, sizeof(host_line), "Host: %s", c->host);
	snprintf(date_line, sizeof(date_line), "X-Amz-Date: %s", date);
	if (asprintf(&authz_line, "Authorization: %s", sig.authorization) < 0)
		authz_line = NULL;
	if (c->session_token != NULL &&
	    asprintf(&token_line, "X-Amz-Security-Token: %s", c->session_token) < 0)
		token_line = NULL;
	if (authz_line == NULL || (c->session_token != NULL && token_line == NULL)) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	lines[n++] = host_line;
	lines[n++] = "Content-Type: application/x-www-form-urlencoded; charset=utf-8";
	lines[n++] = date_line;
	lines[n++] = authz_line;
	if (token_line != NULL)
		lines[n++] = token_line;
	struct httpclient_request hreq = {
		.method = "POST",
		.url = c->url,
		.headers = lines,
		.header_count = n,
		.body = f->buf,
		.body_len = f->len,
		.ca_bundle = c->ca_bundle[0] ? c->ca_bundle : NULL,
		.timeout_s = AWS_REQUEST_TIMEOUT_S,
		.max_answer = AWS_ANSWER_MAX,
	};
	atomic_fetch_add(&c->calls, 1);
	rc = httpclient_do(NULL, &hreq, ans, err, err_size);
out:
	if (token_line != NULL) {
		explicit_bzero(token_line, strlen(token_line));
		free(token_line);
	}
	free(authz_line);
	sigv4_result_free(&sig);
	return rc;
}

/* Calls action with the form's other parameters. On CALL_EC2_ERROR, e holds
 * the error and err "aws: Action: Code: Message (HTTP n)"; otherwise err says
 * why (e may hold the last transient error). */
static enum call_result ec2_call(struct aws_ctx *c, const char *action, struct form *params,
				 struct httpclient_answer *ans, struct ec2_error *e, char *err,
				 size_t err_size)
{
	struct form f = {0};
	char why[512] = "";

	memset(e, 0, sizeof(*e));
	form_add(&f, "Action", action);
	form_add(&f, "Version", EC2_API_VERSION);
	if (params != NULL && params->len > 0 && !f.failed) {
		/* the parameters are already encoded: append as they are */
		struct form whole = {0};
		size_t need = f.len + params->len + 2;
		whole.buf = malloc(need);
		if (whole.buf == NULL) {
			f.failed = true;
		} else {
			whole.cap = need;
			whole.len = (size_t)snprintf(whole.buf, need, "%s&%s", f.buf, params->buf);
			form_free(&f);
			f = whole;
		}
	}
	if (f.failed || (params != NULL && params->failed)) {
		form_free(&f);
		snprintf(err, err_size, "aws: %s: out of memory", action);
		return CALL_FAILED;
	}
	for (int attempt = 1;; attempt++) {
		bool again;

		int sent;

		memset(ans, 0, sizeof(*ans));
		sent = send_once(c, &f, ans, why, sizeof(why));
		if (sent != 0) {
			again = sent == HTTPCLIENT_TRANSIENT;
		} else if (ans->status >= 200 && ans->status < 300) {
			form_free(&f);
			return CALL_OK;
		} else if (ec2xml_error(ans->body, ans->len, c->secrets, e) == 0) {
			/* EC2 echoes parts of requests in some messages: masked
			 * whole before the message was cut to fit */
			snprintf(why, sizeof(why), "%s: %s (HTTP %ld)", e->code, e->message, ans->status);
			again = retryable(e->code, ans->status);
		} else {
			snprintf(why, sizeof(why), "HTTP %ld with no EC2 error document", ans->status);
			again = ans->status >= 500 || ans->status == 429;
		}
		if (!again || attempt >= c->max_tries) {
			form_free(&f);
			httpclient_answer_free(ans);
			snprintf(err, err_size, "aws: %s: %s%s", action, why,
				 again ? " (retries spent)" : "");
			if (again)
				return CALL_GAVE_UP;
			return e->code[0] != '\0' ? CALL_EC2_ERROR : CALL_FAILED;
		}
		httpclient_answer_free(ans);
		int64_t wait = backoff_ms(c, attempt);
		log_warn("aws: %s: %s; retry %d/%d in %lld ms", action, why, attempt + 1, c->max_tries,
			 (long long)wait);
		memset(e, 0, sizeof(*e));
		sleep_ms(wait);
	}
}

/* ---- instance verbs ---- */

/* 1 found (out filled), 0 unknown to EC2, -1 failure with err. */
static int describe(struct aws_ctx *c, const char *id, struct ec2_instance *out, char *err,
		    size_t err_size)
{
	struct form p = {0};
	struct httpclient_answer ans;
	struct ec2_error e;
	char why[256];
	int rc;

	form_add(&p, "InstanceId.1", id);
	switch (ec2_call(c, "DescribeInstances", &p, &ans, &e, err, err_size)) {
	case CALL_OK:
		break;
	case CALL_EC2_ERROR:
		form_free(&p);
		return strcmp(e.code, "InvalidInstanceID.NotFound") == 0 ? 0 : -1;
	default:
		form_free(&p);
		return -1;
	}
	form_free(&p);
	rc = ec2xml_describe_instance(ans.body, ans.len, id, out, why, sizeof(why));
	if (rc < 0)
		snprintf(err, err_size, "aws: DescribeInstances: %s", why);
	httpclient_answer_free(&ans);
	return rc;
}

/* 0 when the instance is gone or going (shutting-down/terminated), -1 with err. */
static int terminate(struct aws_ctx *c, const char *id, char *err, size_t err_size)
{
	struct form p = {0};
	struct httpclient_answer ans;
	struct ec2_error e;
	struct ec2_instance in;
	char why[256];
	int rc = -1;

	form_add(&p, "InstanceId.1", id);
	switch (ec2_call(c, "TerminateInstances", &p, &ans, &e, err, err_size)) {
	case CALL_OK:
		if (ec2xml_terminate_instance(ans.body, ans.len, id, &in, why, sizeof(why)) < 0)
			snprintf(err, err_size, "aws: TerminateInstances: %s", why);
		else
			rc = 0;
		httpclient_answer_free(&ans);
		break;
	case CALL_EC2_ERROR:
		if (strcmp(e.code, "InvalidInstanceID.NotFound") == 0) {
			log_info("aws: instance %s: already gone", id);
			rc = 0;
		}
		break;
	default:
		break;
	}
	form_free(&p);
	return rc;
}

/* Polls until id is in state want ("running" or "terminated"). Returns 0,
 * 1 on timeout (last->state holds what was seen), -1 with err. */
static int wait_state(struct aws_ctx *c, const char *id, const char *want, int64_t timeout_ms,
		      struct ec2_instance *last, char *err, size_t err_size)
{
	int64_t deadline = util_monotonic_ms() + timeout_ms;
	bool for_running = strcmp(want, "running") == 0;

	memset(last, 0, sizeof(*last));
	snprintf(last->state, sizeof(last->state), "unknown");
	for (;;) {
		struct ec2_instance in;
		int rc = describe(c, id, &in, err, err_size);

		if (rc < 0)
			return -1;
		if (rc == 0) {
			/* Unknown: gone for a wait on termination; for a fresh
			 * instance EC2 is only eventually consistent. */
			if (!for_running)
				return 0;
		} else {
			*last = in;
			if (strcmp(in.state, want) == 0)
				return 0;
			if (for_running && strcmp(in.state, "pending") != 0) {
				snprintf(err, err_size, "aws: instance %s went %s instead of running", id,
					 in.state);
				return -1;
			}
		}
		if (util_monotonic_ms() >= deadline)
			return 1;
		sleep_ms(c->poll_ms);
	}
}

static int terminate_and_wait(struct aws_ctx *c, const char *id, char *err, size_t err_size)
{
	struct ec2_instance last;
	int rc;

	if (terminate(c, id, err, err_size) != 0)
		return -1;
	rc = wait_state(c, id, "terminated", c->terminate_ms, &last, err, err_size);
	if (rc == 1)
		snprintf(err, err_size, "aws: instance %s still %s after %lld s of termination", id,
			 last.state, (long long)(c->terminate_ms / 1000));
	return rc == 0 ? 0 : -1;
}

/* After RunInstances failed without an answer we trust, an instance may
 * exist anyway: find it by our client token and terminate it. */
static void cleanup_client_token(struct aws_ctx *c, const char *token, const char *node)
{
	struct form p = {0};
	struct httpclient_answer ans;
	struct ec2_error e;
	struct ec2_instance in;
	char err[512], why[256];

	form_add(&p, "Filter.1.Name", "client-token");
	form_add(&p, "Filter.1.Value.1", token);
	if (ec2_call(c, "DescribeInstances", &p, &ans, &e, err, sizeof(err)) != CALL_OK) {
		log_warn("aws: node %s: cannot check for an instance left by a failed launch: %s", node,
			 err);
		form_free(&p);
		return;
	}
	form_free(&p);
	if (ec2xml_describe_instance(ans.body, ans.len, NULL, &in, why, sizeof(why)) == 1 &&
	    strcmp(in.state, "terminated") != 0) {
		log_warn("aws: node %s: failed launch left instance %s; terminating it", node, in.id);
		if (terminate_and_wait(c, in.id, err, sizeof(err)) != 0)
			log_error("aws: node %s: instance %s: %s", node, in.id, err);
	}
	httpclient_answer_free(&ans);
}

static bool tag_value_ok(const char *v)
{
	return v != NULL && v[0] != '\0' && strlen(v) < AWS_TAG_MAX;
}

static int aws_create_node(void *ctx, const struct provider_node_request *req,
			   struct provider_node *out, char *err, size_t err_size)
{
	struct aws_ctx *c = ctx;
	struct form p = {0};
	struct httpclient_answer ans;
	struct ec2_error e;
	struct ec2_instance in, last;
	unsigned char rnd[16];
	char token[40], why[256], *b64 = NULL;
	const char *type = req->size && req->size[0] ? req->size : c->instance_type;
	size_t ud_len, b64_len = 0;
	enum call_result cr;
	int rc = -1, wr;

	memset(out, 0, sizeof(*out));
	if (!tag_value_ok(req->overcloud_id) || !tag_value_ok(req->name)) {
		snprintf(err, err_size, "aws: bad overcloud id or node name");
		return -1;
	}
	if (!plain_value(type, 64)) {
		snprintf(err, err_size, "aws: bad instance type");
		return -1;
	}
	if (req->user_data == NULL || req->user_data[0] == '\0') {
		snprintf(err, err_size, "aws: node %s: no user-data to boot it with", req->name);
		return -1;
	}
	ud_len = strlen(req->user_data);
	if (ud_len > AWS_USER_DATA_MAX) {
		snprintf(err, err_size, "aws: node %s: user-data of %zu bytes is over EC2's %d", req->name,
			 ud_len, AWS_USER_DATA_MAX);
		return -1;
	}
	mbedtls_base64_encode(NULL, 0, &b64_len, (const unsigned char *)req->user_data, ud_len);
	b64 = malloc(b64_len + 1);
	if (b64 == NULL || mbedtls_base64_encode((unsigned char *)b64, b64_len + 1, &b64_len,
						 (const unsigned char *)req->user_data, ud_len) != 0) {
		snprintf(err, err_size, "aws: out of memory");
		goto out;
	}
	if (util_random(rnd, sizeof(rnd)) != 0) {
		snprintf(err, err_size, "aws: no randomness for a client token");
		goto out;
	}
	memcpy(token, "oc-", 3);
	util_hex(rnd, sizeof(rnd), token + 3);

	form_add(&p, "ImageId", c->image);
	form_add(&p, "InstanceType", type);
	form_add(&p, "MinCount", "1");
	form_add(&p, "MaxCount", "1");
	form_add(&p, "ClientToken", token);
	if (c->subnet[0])
		form_add(&p, "SubnetId", c->subnet);
	if (c->security_group[0])
		form_add(&p, "SecurityGroupId.1", c->security_group);
	form_add(&p, "TagSpecification.1.ResourceType", "instance");
	form_add(&p, "TagSpecification.1.Tag.1.Key", "overcloud:id");
	form_add(&p, "TagSpecification.1.Tag.1.Value", req->overcloud_id);
	form_add(&p, "TagSpecification.1.Tag.2.Key", "overcloud:node");
	form_add(&p, "TagSpecification.1.Tag.2.Value", req->name);
	form_add(&p, "TagSpecification.1.Tag.3.Key", "Name");
	form_add(&p, "TagSpecification.1.Tag.3.Value", req->name);
	form_add(&p, "UserData", b64);

	cr = ec2_call(c, "RunInstances", &p, &ans, &e, err, err_size);
	form_free(&p);
	if (cr != CALL_OK) {
		/* A definite refusal made nothing; after 5xx or a lost answer an
		 * instance may exist under our client token. */
		if (cr == CALL_GAVE_UP)
			cleanup_client_token(c, token, req->name);
		goto out;
	}
	if (ec2xml_run_instances(ans.body, ans.len, &in, why, sizeof(why)) != 0) {
		httpclient_answer_free(&ans);
		snprintf(err, err_size, "aws: RunInstances: %s", why);
		cleanup_client_token(c, token, req->name);
		goto out;
	}
	httpclient_answer_free(&ans);
	log_info("aws: node %s: instance %s %s (%s, %s)", req->name, in.id, in.state, c->image, type);

	wr = wait_state(c, in.id, "running", c->boot_ms, &last, err, err_size);
	if (wr != 0) {
		char first[512], cleanup[512] = "";
		if (wr == 1)
			snprintf(first, sizeof(first),
				 "aws: node %s: instance %s did not reach running within %lld s (last "
				 "state %s)",
				 req->name, in.id, (long long)(c->boot_ms / 1000), last.state);
		else
			snprintf(first, sizeof(first), "%s", err);
		if (terminate_and_wait(c, in.id, cleanup, sizeof(cleanup)) == 0)
			snprintf(err, err_size, "%s; terminated it", first);
		else
			snprintf(err, err_size, "%s; terminating it failed too: %s", first, cleanup);
		log_warn("%s", err);
		goto out;
	}
	snprintf(out->handle, sizeof(out->handle), "%s", in.id);
	snprintf(out->address, sizeof(out->address), "%s", last.private_ip);
	log_info("aws: node %s: instance %s running at %s", req->name, in.id,
		 last.private_ip[0] ? last.private_ip : "(no private address)");
	rc = 0;
out:
	if (b64 != NULL) {
		explicit_bzero(b64, b64_len);
		free(b64);
	}
	return rc;
}

static int aws_destroy_node(void *ctx, const char *overcloud_id, const struct provider_node *node,
			    char *err, size_t err_size)
{
	struct aws_ctx *c = ctx;

	(void)overcloud_id;
	if (node->handle[0] == '\0')
		return 0;         /* create never got as far as an instance */
	if (!ec2xml_instance_id_ok(node->handle)) {
		snprintf(err, err_size, "aws: \"%.64s\" is not an instance id", node->handle);
		return -1;
	}
	if (terminate_and_wait(c, node->handle, err, err_size) != 0)
		return -1;
	log_info("aws: instance %s terminated (%llu API calls so far)", node->handle,
		 (unsigned long long)atomic_load(&c->calls));
	return 0;
}

const struct provider_ops provider_aws = {
	.name = "aws",
	.wants_user_data = true,
	.open = aws_open,
	.close = aws_close,
	.create_node = aws_create_node,
	.destroy_node = aws_destroy_node,
};
