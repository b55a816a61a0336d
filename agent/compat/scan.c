/* scan.c — the subset of sscanf that libevent's IPv4 literal parser uses
 * (literal characters, white space, %u, %d, %c), for the static agent
 * (agent/compat/link_trim.c); glibc's full scanf engine is about 80 KB. */
#include "agent/compat/scan.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>

/* Reads an optionally signed decimal number after optional white space,
 * giving what strtoul (%u) or strtol (%d) give, overflow included. Returns 0,
 * -1 on a matching failure (no digits) or -2 on an input failure (the input
 * ended first). */
static int scan_number(const char **sp, int is_signed, unsigned long *out)
{
	const char *s = *sp;
	int negative = 0, overflow = 0;
	unsigned long v = 0;
	int digits = 0;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return -2;
	if (*s == '+' || *s == '-')
		negative = *s++ == '-';
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (ULONG_MAX - d) / 10)
			overflow = 1;
		else
			v = v * 10 + d;
	}
	if (digits == 0)
		return -1;
	if (!is_signed) {
		/* strtoul: ULONG_MAX on overflow, whatever the sign; else negated */
		v = overflow ? ULONG_MAX : negative ? -v : v;
	} else if (negative) {
		/* strtol: LONG_MIN below the range; else -v, in two's complement */
		v = overflow || v > (unsigned long)LONG_MAX + 1 ? (unsigned long)LONG_MIN : 0UL - v;
	} else {
		v = overflow || v > (unsigned long)LONG_MAX ? (unsigned long)LONG_MAX : v;
	}
	*out = v;
	*sp = s;
	return 0;
}

int scan_vformat(const char *s, const char *fmt, va_list ap)
{
	int stored = 0, r;
	unsigned long v;

	for (; *fmt != '\0'; fmt++) {
		if (isspace((unsigned char)*fmt)) {
			while (isspace((unsigned char)*s))
				s++;
			continue;
		}
		if (*fmt != '%' || fmt[1] == '%') {
			if (*fmt == '%')
				fmt++;
			if (*s == '\0')
				goto input_failure;
			if (*s != *fmt)
				break;
			s++;
			continue;
		}
		fmt++;
		if (*fmt == 'u' || *fmt == 'd') {
			r = scan_number(&s, *fmt == 'd', &v);
			if (r == -2)
				goto input_failure;
			if (r != 0)
				break;
			if (*fmt == 'u')
				*va_arg(ap, unsigned *) = (unsigned)v;
			else
				*va_arg(ap, int *) = (int)(long)v;
		} else if (*fmt == 'c') {
			if (*s == '\0')
				goto input_failure;
			*va_arg(ap, char *) = *s++;
		} else {
			break;
		}
		stored++;
	}
	return stored;

input_failure:
	/* as C says: EOF if the input ended before the first conversion */
	return stored == 0 ? EOF : stored;
}
