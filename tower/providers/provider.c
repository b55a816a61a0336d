/* provider.c — finds an UnderCloud provider by name.
 * Owns only the name -> vtable table; each provider lives in its own file. */
#include "tower/providers/provider.h"

#include <strings.h>

#include "shared/util.h"

extern const struct provider_ops provider_openstack;   /* openstack.c */

static const struct provider_ops *const providers[] = {
	&provider_local,
	&provider_openstack,
	/* aws comes later */
};

const struct provider_ops *provider_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < OC_ARRAY_LEN(providers); i++)
		if (strcasecmp(name, providers[i]->name) == 0)
			return providers[i];
	return NULL;
}
