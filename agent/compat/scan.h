/* scan.h — a small sscanf: literal characters, white space, %u, %d and %c,
 * with glibc's results for those; any other directive ends the scan. */
#ifndef OC_SCAN_H
#define OC_SCAN_H

#include <stdarg.h>

/* Like vsscanf for the directives above: the number of conversions stored,
 * or EOF if the input ends before the first one. */
int scan_vformat(const char *s, const char *fmt, va_list ap);

#endif
