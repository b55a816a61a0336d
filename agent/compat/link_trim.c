/* link_trim.c — linked only into the static overcloud-agent: small stand-ins
 * for library code the agent never runs, so that the static link leaves out
 * what they would drag in (about 300 KB of the 1.75 MiB binary on x86_64).
 *
 * Not part of libocagent (the unit tests and the sanitizer build link that)
 * and not a module with a header: it defines only symbols that glibc, libevent
 * or mbedtls declare. Each stand-in says why the real one is never reached.
 * Debian builds libevent and mbedtls without -ffunction-sections, so one live
 * function in an object keeps all of it; --gc-sections cannot help there.
 */
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <mbedtls/certs.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_internal.h>

#include "agent/compat/scan.h"
#include "agent/compat/utc.h"

/* --- glibc's NSS resolver (about 140 KB: getaddrinfo, nss_files, nss_dns,
 * the dlopen machinery NSS needs). The agent resolves names with libevent's
 * evdns (agent/dial.c: evdns_getaddrinfo), which reads /etc/hosts and
 * /etc/resolv.conf itself and answers literals without asking glibc. Only
 * libevent's evutil.o references these, from its blocking evutil_getaddrinfo,
 * which the agent never calls. In a static binary glibc's NSS would also need
 * the node's own libnss_*.so of the exact glibc version we linked against, so
 * failing here is what a static agent on another distribution would get
 * anyway. Ports are always numeric (dial.c formats them), so getservbyname is
 * never needed; getprotobynumber is only asked for protocols other than
 * TCP/UDP. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	*res = NULL;
	return EAI_FAIL;
}

/* Never given a list: the getaddrinfo above makes none, and evdns frees its
 * own results (marked EVUTIL_AI_LIBEVENT_ALLOCATED) without calling this. */
void freeaddrinfo(struct addrinfo *res)
{
}

struct servent *getservbyname(const char *name, const char *proto)
{
	return NULL;
}

struct protoent *getprotobynumber(int proto)
{
	return NULL;
}

/* --- mbedtls's test certificates and keys (certs.c, 54 KB). Debian's
 * x509.c.o holds mbedtls_x509_self_test next to the parser we need, and the
 * self-test names these; the agent never runs a self-test. */
const char *mbedtls_test_ca_crt = "";
const size_t mbedtls_test_ca_crt_len = 0;
const char *mbedtls_test_cli_crt = "";
const size_t mbedtls_test_cli_crt_len = 0;

/* --- mbedtls's TLS server state machine (ssl_srv.c, 27 KB). The agent only
 * dials out: every TLS config it makes is MBEDTLS_SSL_IS_CLIENT, so
 * mbedtls_ssl_handshake_step never takes the server branch. Were it ever
 * asked to, the handshake fails cleanly instead of running. */
int mbedtls_ssl_handshake_server_step(mbedtls_ssl_context *ssl)
{
	return MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE;
}

/* --- glibc's time zone code (tzset, tzfile: TZ parsing, zoneinfo reading)
 * and, through its TZ parser, the scanf engine below. The agent, mbedtls
 * (certificate validity) and libevent only ever ask for UTC: gmtime_r and
 * timegm are calendar arithmetic (agent/utc.c; tests/unit/test_link_trim.c
 * and tests/fuzz/fuzz_link_trim.c compare it with glibc's).
 * glibc's gmtime_r would differ only under a "right/" zone with leap
 * seconds, which no certificate or log line wants. */
struct tm *gmtime_r(const time_t *t, struct tm *tm)
{
	return utc_from_time(*t, tm);
}

time_t timegm(struct tm *tm)
{
	return utc_to_time(tm);
}

/* --- glibc's scanf engine (about 80 KB: vfscanf plus the float, long double
 * and _Float128 parsers it carries). With tzset gone, its only caller in the
 * agent is libevent's evutil_inet_pton, which reads an IPv4 literal with
 * sscanf(src, "%u.%u.%u.%u%c", ...). The agent's build renames that one
 * reference in its copy of libevent_core.a (objcopy --redefine-sym, see
 * CMakeLists.txt), so no other code is affected; agent/scan.c does what
 * glibc's sscanf does for that format (same tests as utc.c). Every tower address the tests use is
 * an IPv4 literal, so each join and reconnect goes through here. */
int oc_evutil_sscanf(const char *s, const char *fmt, ...);

int oc_evutil_sscanf(const char *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = scan_vformat(s, fmt, ap);
	va_end(ap);
	return n;
}
