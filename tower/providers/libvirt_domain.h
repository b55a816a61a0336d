/* libvirt_domain.h — what the libvirt provider asks libvirt for, as XML: a
 * node's size (vCPUs and memory), its domain, and its two volumes. */
#ifndef OC_LIBVIRT_DOMAIN_H
#define OC_LIBVIRT_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

/* The XML namespace of the <metadata> element the provider writes. */
#define LV_METADATA_NS "https://overcloud.dev/xmlns/libvirt/1"
#define LV_METADATA_PREFIX "overcloud"

#define LV_VCPUS_MAX 64
#define LV_MEMORY_MIB_MIN 128
#define LV_MEMORY_MIB_MAX (256 * 1024)

struct lv_size {
	unsigned vcpus;
	unsigned memory_mib;
};

/* "small" (1 vCPU, 1 GiB), "medium" (2, 2 GiB), "large" (4, 4 GiB), or
 * "<N>c<M>g" / "<N>c<M>m" such as 2c4g or 1c512m; NULL or "" is small.
 * -1 with a one-line reason in err for anything else. */
int lv_size_parse(const char *spec, struct lv_size *out, char *err, size_t err_size);

struct lv_domain_spec {
	const char *name;          /* the domain's name: the node's */
	const char *overcloud_id;  /* written in <metadata> */
	const char *group;         /* may be NULL */
	const char *virt_type;     /* "kvm" or "qemu" (TCG) */
	const char *arch;          /* x86_64 or aarch64 */
	struct lv_size size;
	const char *pool;          /* both disks are volumes of this pool */
	const char *overlay_volume;
	const char *seed_volume;
	const char *network;
	const char *serial_log;    /* path of the serial console's log file */
	const char *kernel;        /* direct kernel boot when set */
	const char *initrd;        /* may be NULL */
	const char *cmdline;       /* may be NULL */
};

/* The domain XML (caller frees), or NULL with a reason in err. */
char *lv_domain_xml(const struct lv_domain_spec *s, char *err, size_t err_size);

/* A qcow2 volume of capacity bytes on the qcow2 image at backing_path. */
char *lv_overlay_volume_xml(const char *name, uint64_t capacity, const char *backing_path);

/* A raw volume of capacity bytes, readable by its owner only (the seed holds
 * the node's join token). */
char *lv_raw_volume_xml(const char *name, uint64_t capacity);

/* The overcloud id in a domain's <metadata> element as libvirt gives it back
 * (virDomainGetMetadata), into out; -1 when it has none. */
int lv_metadata_overcloud_id(const char *metadata_xml, char *out, size_t out_size);

#endif
