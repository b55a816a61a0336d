/* fuzz_libvirt_domain.c — libFuzzer target for the libvirt provider's readers
 * of outside text: a node's size (from an API request), the <metadata> libvirt
 * gives back, and any node name put into the domain XML and the seed's meta-data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tower/boot/seed_iso.h"
#include "tower/providers/libvirt_domain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[256] = "", id[64], meta[256];
	struct lv_size sz;
	struct lv_domain_spec spec = {
		.overcloud_id = "oc-1", .virt_type = "qemu", .arch = "x86_64", .size = {1, 512},
		.pool = "p", .overlay_volume = "o", .seed_volume = "s", .network = "n",
		.serial_log = "/l",
	};
	char *xml;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (lv_size_parse(s, &sz, err, sizeof(err)) == 0) {
		if (sz.vcpus < 1 || sz.vcpus > LV_VCPUS_MAX || sz.memory_mib < LV_MEMORY_MIB_MIN ||
		    sz.memory_mib > LV_MEMORY_MIB_MAX)
			abort();
	} else if (err[0] == '\0' || strchr(err, '\n') != NULL) {
		abort();
	}
	if (lv_metadata_overcloud_id(s, id, sizeof(id)) == 0 &&
	    (id[0] == '\0' || strpbrk(id, "<&") != NULL))
		abort();
	spec.name = s;
	spec.group = s;
	spec.kernel = "/k";
	spec.cmdline = s;
	xml = lv_domain_xml(&spec, err, sizeof(err));
	if (xml != NULL) {
		/* nothing of the input breaks out of its element: every '<' is ours */
		size_t opens = 0;
		for (const char *p = xml; *p; p++) {
			if ((unsigned char)*p < 0x20 && *p != '\n')
				abort();
			opens += *p == '<';
		}
		free(xml);
		spec.name = "x";
		spec.group = "x";
		spec.cmdline = "x";
		xml = lv_domain_xml(&spec, err, sizeof(err));
		for (const char *p = xml; p && *p; p++)
			opens -= *p == '<';
		free(xml);
		if (opens != 0)
			abort();
	} else if (strchr(err, '\n') != NULL) {
		abort();
	}
	if (seed_meta_data(s, s, meta, sizeof(meta)) == 0) {
		/* two keys on two lines: a name adds no key and no line */
		int colons = 0, lines = 0;
		for (const char *p = meta; *p; p++) {
			colons += *p == ':';
			lines += *p == '\n';
		}
		if (colons != 2 || lines != 2)
			abort();
	}
	free(s);
	return 0;
}
