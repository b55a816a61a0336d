/* log.h — one logging API for tower and agent: levelled, one line per event,
 * to stderr with a timestamp. Never pass a secret to these functions. */
#ifndef OC_LOG_H
#define OC_LOG_H

enum oc_log_level { OC_LOG_ERROR = 0, OC_LOG_WARN, OC_LOG_INFO, OC_LOG_DEBUG };

void log_init(const char *program, enum oc_log_level level);
void log_set_level(enum oc_log_level level);
enum oc_log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns 0 or -1. */
int log_level_parse(const char *name, enum oc_log_level *out);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For start-up problems an operator must fix; never for network input. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
