/* provider.c — finds an UnderCloud provider by name.
 * Owns only the name -> vtable table; each provider lives in its own file. */
#include "tower/providers/provider.h"

#include <strings.h>

#include "shared/util.h"

extern const struct provider_ops provider_aws;         /* aws.c */
extern const struct provider_ops provider_openstack;   /* openstack.c */

static const struct provider_ops *const providers[] = {
	&provider_local,
	&provider_openstack,
	&provider_aws,
};

/* The seed's v1 API spells the clouds its own way. */
static const struct {
	const char *alias;
	const struct provider_ops *ops;
} aliases[] = {
	{"amazon", &provider_aws},
};

const struct provider_ops *provider_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < OC_ARRAY_LEN(providers); i++)
		if (strcasecmp(name, providers[i]->name) == 0)
			return providers[i];
	for (size_t i = 0; i < OC_ARRAY_LEN(aliases); i++)
		if (strcasecmp(name, aliases[i].alias) == 0)
			return aliases[i].ops;
	return NULL;
}
