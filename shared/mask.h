/* mask.h — secrets replaced by "***" in text that may quote them: task output
 * read in pieces (agent), stored logs (tower), cloud error messages (providers).
 *
 * At each position the longest match wins, among: a whole secret; a prefix
 * or a suffix of a secret that is at least MASK_PART_MIN bytes long (a cloud
 * or a script that quotes a secret cut short still gives nothing away). A
 * secret shorter than MASK_PART_MIN is masked only whole. */
#ifndef OC_MASK_H
#define OC_MASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MASK_PART_MIN 8
#define MASK_REPLACEMENT "***"

struct mask;

/* An empty set; caller frees with mask_free (which wipes the secrets). NULL
 * when out of memory. */
struct mask *mask_new(void);
void mask_free(struct mask *m);

/* Adds a secret of len bytes (copied). An empty one is ignored. 0, or -1
 * when out of memory. */
int mask_add(struct mask *m, const void *secret, size_t len);
size_t mask_count(const struct mask *m);
/* Length of the longest secret: a stream holds back at most one byte less. */
size_t mask_longest(const struct mask *m);

typedef void (*mask_emit_fn)(void *ctx, const uint8_t *p, size_t n);

/* Passes p[0..len) to emit with every match replaced by "***". Unless eof,
 * stops before a tail that could still grow into a longer match and returns
 * how many bytes it consumed; the caller keeps the rest (fewer than
 * mask_longest bytes) and passes it again with what follows. m may be NULL
 * or empty: everything is passed through. */
size_t mask_stream(const struct mask *m, const uint8_t *p, size_t len, bool eof,
		   mask_emit_fn emit, void *ctx);

/* The NUL-terminated text masked whole, in a new string the caller frees;
 * NULL when out of memory. Mask first, cut after: a cut that fell inside a
 * secret would leave a piece no rule could recognise any more. */
char *mask_text(const struct mask *m, const char *text);

#endif
