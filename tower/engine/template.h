/* template.h — the ${{ REF }} language of pattern input values: one grammar,
 * checked when a pattern loads (pattern.c) and expanded when a step starts
 * (workflow.c), so what loads is exactly what runs. */
#ifndef OC_TEMPLATE_H
#define OC_TEMPLATE_H

#include <stddef.h>

/* Longest reference between ${{ and }}, blanks around it not counted. */
#define TEMPLATE_REF_MAX 256

/* What a reference names. The grammar, blanks being spaces and tabs:
 *   template := ( literal | "${{" blanks ref blanks "}}" )*
 *   ref      := part ( "." part ){1,3}, part := [A-Za-z0-9_-]+
 * and ref is one of these forms: */
enum template_ref_kind {
	TEMPLATE_STEP_OUTPUT,       /* steps.STEP.outputs.KEY */
	TEMPLATE_GROUP_ADDRESS,     /* groups.GROUP.address: its first node's */
	TEMPLATE_GROUP_ADDRESSES,   /* groups.GROUP.addresses: all, space-separated */
	TEMPLATE_OVERCLOUD_ID,      /* overcloud.id */
	TEMPLATE_OVERCLOUD_NUMBER,  /* overcloud.number */
	TEMPLATE_OVERCLOUD_SIZE,    /* overcloud.size */
	TEMPLATE_INPUT,             /* inputs.NAME */
};

struct template_ref {
	enum template_ref_kind kind;
	char text[TEMPLATE_REF_MAX + 1];  /* the reference as written, trimmed */
	char name[TEMPLATE_REF_MAX + 1];  /* STEP, GROUP or NAME; "" for overcloud.* */
	char key[TEMPLATE_REF_MAX + 1];   /* KEY of a step output; "" otherwise */
};

/* Parses what stands between ${{ and }} (len bytes, blanks allowed around
 * it). Returns 0, or -1 with a one-line reason in err. */
int template_parse_ref(const char *text, size_t len, struct template_ref *out, char *err,
		       size_t err_size);

/* Called for each piece of a template in order: a literal run (ref NULL) or
 * a reference (literal NULL). Returns 0 to go on, -1 to stop (having
 * written its reason in err). */
typedef int (*template_piece_fn)(void *arg, const char *literal, size_t len,
				 const struct template_ref *ref, char *err, size_t err_size);

/* Walks text piece by piece. Returns 0, or -1 with the reason in err: the
 * template's own (bad syntax) or fn's. */
int template_walk(const char *text, template_piece_fn fn, void *arg, char *err, size_t err_size);

/* The value of one reference, as a heap string, or NULL with err. */
typedef char *(*template_resolve_fn)(void *arg, const struct template_ref *ref, char *err,
				     size_t err_size);

/* text with every reference replaced by its value: a heap string, or NULL
 * with the reason in err. */
char *template_expand(const char *text, template_resolve_fn resolve, void *arg, char *err,
		      size_t err_size);

#endif
