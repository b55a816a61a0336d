/* util.h — small helpers shared by tower and agent: durations, hex, random
 * bytes, files written atomically with a mode, host:port parsing, the name
 * rule, clocks. */
#ifndef OC_UTIL_H
#define OC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* "90", "90s", "15m", "1h", "7d" -> seconds. Returns 0, or -1 on bad input. */
int util_parse_duration(const char *text, int64_t *seconds);
/* Decimal in [min, max]; whole string must be a number. Returns 0 or -1. */
int util_parse_int(const char *text, int64_t min, int64_t max, int64_t *out);
/* "host:port", "[v6]:port". host gets a NUL-terminated copy. Returns 0 or -1. */
int util_parse_hostport(const char *text, char *host, size_t host_size, uint16_t *port);

/* Cryptographic random bytes from the kernel. Returns 0 or -1. */
int util_random(void *buf, size_t len);
/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void util_hex(const void *data, size_t len, char *out);
/* True when s is a name safe as a file name, netns name or argument: 1 to
 * max_len bytes of A-Z a-z 0-9 . _ -, not starting with '.' or '-'. The one
 * rule for ids (n-…, t-…, r-…, oc-…), node names and role names. */
bool util_name_ok(const char *s, size_t max_len);
/* The value of one hex digit (either case), or -1. */
int util_hex_digit(int c);
/* Control characters in s (NULL is fine) become '?', in place: for text from
 * a file or a peer that goes to a log line or a terminal. */
void util_one_line(char *s);
/* sha256 of data as 64 hex chars + NUL. */
void util_sha256_hex(const void *data, size_t len, char out[65]);
/* Compares two equal-length buffers in constant time; 0 when equal. */
int util_consttime_cmp(const void *a, const void *b, size_t len);

/* write(2) until all of data is written (EINTR retried). 0, or -1 with errno. */
int util_write_all(int fd, const void *data, size_t len);
/* Writes via a temporary file + fsync + rename so a crash never leaves a
 * half-written file. Returns 0, or -1 with errno set. */
int util_write_file(const char *path, const void *data, size_t len, mode_t mode);
/* The same without fsync: atomic, and safe when this process dies, but not
 * when the machine loses power. For markers that are cheap to lose. */
int util_write_file_nosync(const char *path, const void *data, size_t len, mode_t mode);
/* Reads a whole file of at most max bytes, NUL-terminated; caller frees.
 * Returns NULL with errno set (EFBIG when larger than max). */
char *util_read_file(const char *path, size_t max, size_t *len);
/* mkdir -p with mode for the directories it creates. Returns 0 or -1. */
int util_mkdir_p(const char *path, mode_t mode);
/* rm -rf of a directory tree (symlinks removed, not followed). Returns 0 or -1. */
int util_remove_tree(const char *path);
/* Removes everything inside the directory path, not path itself. Returns 0
 * or -1. */
int util_clear_dir(const char *path);

/* The wall clock: seconds, and milliseconds, since the epoch. */
int64_t util_now(void);
int64_t util_now_ms(void);
/* A clock in milliseconds that never jumps (CLOCK_MONOTONIC): for
 * intervals, not dates. */
int64_t util_monotonic_ms(void);

#endif
