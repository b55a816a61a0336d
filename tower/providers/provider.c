/* provider.c — finds an UnderCloud provider by name.
 * Owns only the name -> vtable table (built in, plus the few registered at
 * start); each provider lives in its own file. */
#include "tower/providers/provider.h"

#include <strings.h>

#include "shared/util.h"

extern const struct provider_ops provider_aws;         /* aws.c */
extern const struct provider_ops provider_openstack;   /* openstack.c */
#ifndef OC_NO_LIBVIRT
extern const struct provider_ops provider_libvirt;     /* libvirt.c */
#endif

static const struct provider_ops *const providers[] = {
	&provider_local,
	&provider_openstack,
	&provider_aws,
#ifndef OC_NO_LIBVIRT
	&provider_libvirt,
#endif
};

/* The seed's v1 API spells the clouds its own way. */
static const struct {
	const char *alias;
	const struct provider_ops *ops;
} aliases[] = {
	{"amazon", &provider_aws},
};

/* Providers added by provider_register: one not built in (an embedder's,
 * or a test's fake cloud). */
static const struct provider_ops *registered[4];
static size_t registered_count;

int provider_register(const struct provider_ops *ops)
{
	if (ops == NULL || ops->name == NULL || provider_find(ops->name) != NULL ||
	    registered_count == OC_ARRAY_LEN(registered))
		return -1;
	registered[registered_count++] = ops;
	return 0;
}

const struct provider_ops *provider_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < OC_ARRAY_LEN(providers); i++)
		if (strcasecmp(name, providers[i]->name) == 0)
			return providers[i];
	for (size_t i = 0; i < registered_count; i++)
		if (strcasecmp(name, registered[i]->name) == 0)
			return registered[i];
	for (size_t i = 0; i < OC_ARRAY_LEN(aliases); i++)
		if (strcasecmp(name, aliases[i].alias) == 0)
			return aliases[i].ops;
	return NULL;
}
