/* log.c — levelled one-line logging to stderr for tower and agent.
 * Owns the format (time, program, level); callers own the wording. */
#include "shared/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_program = "overcloud";
static enum oc_log_level log_level = OC_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *program, enum oc_log_level level)
{
	log_program = program;
	log_level = level;
}

void log_set_level(enum oc_log_level level) { log_level = level; }
enum oc_log_level log_get_level(void) { return log_level; }

int log_level_parse(const char *name, enum oc_log_level *out)
{
	for (int i = 0; i <= OC_LOG_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum oc_log_level)i;
			return 0;
		}
	}
	return -1;
}

static void __attribute__((format(printf, 2, 0)))
log_emit(enum oc_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, log_program, level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line so concurrent processes do not interleave; text a
	 * peer sent, quoted in a message, can neither start a line of its own
	 * nor reach a terminal as an escape sequence. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
		else if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	n = (int)strlen(line);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

#define LOG_FUNC(name, level)                  \
	void name(const char *fmt, ...)        \
	{                                      \
		va_list ap;                    \
		va_start(ap, fmt);             \
		log_emit(level, fmt, ap);      \
		va_end(ap);                    \
	}
LOG_FUNC(log_error, OC_LOG_ERROR)
LOG_FUNC(log_warn, OC_LOG_WARN)
LOG_FUNC(log_info, OC_LOG_INFO)
LOG_FUNC(log_debug, OC_LOG_DEBUG)

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(OC_LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
