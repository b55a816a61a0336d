/* libvirt_domain.c — the XML the libvirt provider hands libvirt: sizes to
 * vCPUs and memory, the domain (virtio disk and net, seed cdrom, serial log,
 * metadata), and the overlay and seed volumes. Pure text, no libvirt calls. */
#include "tower/providers/libvirt_domain.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/util.h"

static const struct {
	const char *name;
	struct lv_size size;
} named_sizes[] = {
	/* Small enough for TCG emulation in a lab without KVM. */
	{"small", {1, 1024}},
	{"medium", {2, 2048}},
	{"large", {4, 4096}},
};

/* Digits at *p into *out (at most 7 of them); advances *p. */
static int take_number(const char **p, unsigned *out)
{
	unsigned v = 0;
	int n = 0;

	while (isdigit((unsigned char)**p)) {
		if (++n > 7)
			return -1;
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
	}
	if (n == 0)
		return -1;
	*out = v;
	return 0;
}

int lv_size_parse(const char *spec, struct lv_size *out, char *err, size_t err_size)
{
	const char *p = spec;
	unsigned vcpus, mem;

	if (spec == NULL || spec[0] == '\0') {
		*out = named_sizes[0].size;
		return 0;
	}
	for (size_t i = 0; i < sizeof(named_sizes) / sizeof(named_sizes[0]); i++) {
		if (strcasecmp(spec, named_sizes[i].name) == 0) {
			*out = named_sizes[i].size;
			return 0;
		}
	}
	if (take_number(&p, &vcpus) != 0 || (*p != 'c' && *p != 'C'))
		goto bad;
	p++;
	if (take_number(&p, &mem) != 0)
		goto bad;
	if ((*p == 'g' || *p == 'G') && p[1] == '\0')
		mem = mem > LV_MEMORY_MIB_MAX / 1024 ? LV_MEMORY_MIB_MAX + 1 : mem * 1024;
	else if (!((*p == 'm' || *p == 'M') && p[1] == '\0'))
		goto bad;
	if (vcpus < 1 || vcpus > LV_VCPUS_MAX) {
		snprintf(err, err_size, "size \"%.32s\": %u vCPUs is not 1..%d", spec, vcpus,
			 LV_VCPUS_MAX);
		return -1;
	}
	if (mem < LV_MEMORY_MIB_MIN || mem > LV_MEMORY_MIB_MAX) {
		snprintf(err, err_size, "size \"%.32s\": memory must be %d MiB to %d GiB", spec,
			 LV_MEMORY_MIB_MIN, LV_MEMORY_MIB_MAX / 1024);
		return -1;
	}
	out->vcpus = vcpus;
	out->memory_mib = mem;
	return 0;
bad:
	snprintf(err, err_size, "size \"%.32s\" is not small, medium, large or <vcpus>c<memory>g "
		 "(like 2c4g or 1c512m)", spec);
	/* the spec is a client's: its control characters stay out of logs */
	util_one_line(err);
	return -1;
}

/* s with &, <, >, ' and " as entities; control characters refused (the
 * caller says which value). */
static int put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			return -1;
		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '\'': fputs("&apos;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(c, f);
		}
	}
	return 0;
}

/* fmt where every %s is an escaped string (only %s and %u are known).
 * Returns -1 and names the bad value when one holds a control character. */
static int putx(FILE *f, const char **bad, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int putx(FILE *f, const char **bad, const char *fmt, ...)
{
	va_list ap;
	int rc = 0;

	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			const char *s = va_arg(ap, const char *);
			if (put_escaped(f, s) != 0) {
				*bad = s;
				rc = -1;
			}
			p++;
		} else if (p[0] == '%' && p[1] == 'u') {
			fprintf(f, "%u", va_arg(ap, unsigned));
			p++;
		} else {
			fputc(*p, f);
		}
	}
	va_end(ap);
	return rc;
}

static bool arch_known(const char *arch)
{
	return strcmp(arch, "x86_64") == 0 || strcmp(arch, "aarch64") == 0;
}

char *lv_domain_xml(const struct lv_domain_spec *s, char *err, size_t err_size)
{
	char *xml = NULL;
	size_t len = 0;
	const char *bad = NULL;
	bool arm;
	int rc = 0;
	FILE *f;

	if (s->name == NULL || s->name[0] == '\0' || s->overcloud_id == NULL || s->pool == NULL ||
	    s->overlay_volume == NULL || s->seed_volume == NULL || s->network == NULL ||
	    s->serial_log == NULL || s->virt_type == NULL || s->arch == NULL) {
		snprintf(err, err_size, "a domain needs a name, an overcloud id, a pool, its volumes, "
			 "a network and a serial log");
		return NULL;
	}
	if (!arch_known(s->arch)) {
		snprintf(err, err_size, "arch \"%.32s\" is not x86_64 or aarch64", s->arch);
		util_one_line(err);
		return NULL;
	}
	if (s->size.vcpus < 1 || s->size.vcpus > LV_VCPUS_MAX ||
	    s->size.memory_mib < LV_MEMORY_MIB_MIN || s->size.memory_mib > LV_MEMORY_MIB_MAX) {
		snprintf(err, err_size, "%u vCPUs and %u MiB is not a size a domain can have",
			 s->size.vcpus, s->size.memory_mib);
		return NULL;
	}
	arm = strcmp(s->arch, "aarch64") == 0;
	f = open_memstream(&xml, &len);
	if (f == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	rc |= putx(f, &bad, "<domain type='%s'>\n  <name>%s</name>\n", s->virt_type, s->name);
	rc |= putx(f, &bad,
		   "  <metadata>\n"
		   "    <" LV_METADATA_PREFIX ":node xmlns:" LV_METADATA_PREFIX "='" LV_METADATA_NS "'>\n"
		   "      <" LV_METADATA_PREFIX ":overcloud_id>%s</" LV_METADATA_PREFIX ":overcloud_id>\n"
		   "      <" LV_METADATA_PREFIX ":group>%s</" LV_METADATA_PREFIX ":group>\n"
		   "    </" LV_METADATA_PREFIX ":node>\n"
		   "  </metadata>\n",
		   s->overcloud_id, s->group ? s->group : "");
	rc |= putx(f, &bad, "  <memory unit='MiB'>%u</memory>\n  <vcpu>%u</vcpu>\n",
		   s->size.memory_mib, s->size.vcpus);
	rc |= putx(f, &bad, "  <os>\n    <type arch='%s' machine='%s'>hvm</type>\n", s->arch,
		   arm ? "virt" : "pc");
	if (s->kernel != NULL && s->kernel[0] != '\0') {
		rc |= putx(f, &bad, "    <kernel>%s</kernel>\n", s->kernel);
		if (s->initrd != NULL && s->initrd[0] != '\0')
			rc |= putx(f, &bad, "    <initrd>%s</initrd>\n", s->initrd);
		if (s->cmdline != NULL && s->cmdline[0] != '\0')
			rc |= putx(f, &bad, "    <cmdline>%s</cmdline>\n", s->cmdline);
	} else {
		fputs("    <boot dev='hd'/>\n", f);
	}
	fputs("  </os>\n", f);
	/* An aarch64 guest needs a CPU model under TCG; ACPI is x86's. */
	fputs(arm ? "  <features><gic version='3'/></features>\n"
		    "  <cpu mode='custom'><model>cortex-a57</model></cpu>\n"
		  : "  <features><acpi/><apic/></features>\n", f);
	fputs("  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
	      "  <on_crash>destroy</on_crash>\n  <devices>\n", f);
	rc |= putx(f, &bad,
		   "    <disk type='volume' device='disk'>\n"
		   "      <driver name='qemu' type='qcow2'/>\n"
		   "      <source pool='%s' volume='%s'/>\n"
		   "      <target dev='vda' bus='virtio'/>\n"
		   "    </disk>\n",
		   s->pool, s->overlay_volume);
	/* The NoCloud seed: a cdrom, on the bus each machine type has. */
	if (arm)
		fputs("    <controller type='scsi' model='virtio-scsi'/>\n", f);
	rc |= putx(f, &bad,
		   "    <disk type='volume' device='cdrom'>\n"
		   "      <driver name='qemu' type='raw'/>\n"
		   "      <source pool='%s' volume='%s'/>\n"
		   "      <target dev='%s' bus='%s'/>\n"
		   "      <readonly/>\n"
		   "    </disk>\n",
		   s->pool, s->seed_volume, arm ? "sda" : "hdc", arm ? "scsi" : "ide");
	rc |= putx(f, &bad,
		   "    <interface type='network'>\n"
		   "      <source network='%s'/>\n"
		   "      <model type='virtio'/>\n"
		   "    </interface>\n",
		   s->network);
	rc |= putx(f, &bad,
		   "    <serial type='file'>\n"
		   "      <source path='%s'/>\n"
		   "      <target port='0'/>\n"
		   "    </serial>\n",
		   s->serial_log);
	/* Entropy for an early boot under emulation; no display (no <graphics>). */
	fputs("    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>\n"
	      "    <video><model type='none'/></video>\n"
	      "    <memballoon model='none'/>\n"
	      "  </devices>\n</domain>\n", f);
	if (fclose(f) != 0 || xml == NULL) {
		free(xml);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	if (rc != 0) {
		snprintf(err, err_size, "a domain setting holds a control character: \"%.40s\"",
			 bad ? bad : "");
		util_one_line(err);
		free(xml);
		return NULL;
	}
	return xml;
}

char *lv_overlay_volume_xml(const char *name, uint64_t capacity, const char *backing_path)
{
	char *xml = NULL;
	size_t len = 0;
	const char *bad = NULL;
	int rc = 0;
	FILE *f = open_memstream(&xml, &len);

	if (f == NULL)
		return NULL;
	rc |= putx(f, &bad, "<volume>\n  <name>%s</name>\n", name);
	fprintf(f, "  <capacity unit='bytes'>%llu</capacity>\n", (unsigned long long)capacity);
	fputs("  <target>\n    <format type='qcow2'/>\n"
	      "    <permissions><mode>0600</mode></permissions>\n  </target>\n", f);
	rc |= putx(f, &bad, "  <backingStore>\n    <path>%s</path>\n    <format type='qcow2'/>\n"
		   "  </backingStore>\n</volume>\n", backing_path);
	if (fclose(f) != 0 || rc != 0) {
		free(xml);
		return NULL;
	}
	return xml;
}

char *lv_raw_volume_xml(const char *name, uint64_t capacity)
{
	char *xml = NULL;
	size_t len = 0;
	const char *bad = NULL;
	int rc;
	FILE *f = open_memstream(&xml, &len);

	if (f == NULL)
		return NULL;
	rc = putx(f, &bad, "<volume>\n  <name>%s</name>\n", name);
	fprintf(f, "  <capacity unit='bytes'>%llu</capacity>\n"
		"  <allocation unit='bytes'>%llu</allocation>\n", (unsigned long long)capacity,
		(unsigned long long)capacity);
	fputs("  <target>\n    <format type='raw'/>\n"
	      "    <permissions><mode>0600</mode></permissions>\n  </target>\n</volume>\n", f);
	if (fclose(f) != 0 || rc != 0) {
		free(xml);
		return NULL;
	}
	return xml;
}

int lv_metadata_overcloud_id(const char *metadata_xml, char *out, size_t out_size)
{
	/* libvirt gives the element back with a prefix of its choosing (or
	 * none): the opening tag is whatever ends in "overcloud_id>". */
	const char *p, *end;
	size_t len;

	if (metadata_xml == NULL || (p = strstr(metadata_xml, "overcloud_id>")) == NULL)
		return -1;
	p += strlen("overcloud_id>");
	if ((end = strchr(p, '<')) == NULL)
		return -1;
	len = (size_t)(end - p);
	if (len == 0 || len >= out_size || memchr(p, '&', len) != NULL)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}
