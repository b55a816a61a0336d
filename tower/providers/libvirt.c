/* libvirt.c — the `libvirt` provider: a lab's KVM (or TCG) hosts driven
 * through libvirt's C API. Owns the connection, the node's volumes (a qcow2
 * overlay on the base image, a NoCloud seed) and its domain, and their removal.
 *
 * Settings, from [libvirt] in tower.conf:
 *   uri (qemu:///system; any libvirt URI, qemu+ssh://host/system too),
 *   base_image (path of a qcow2 image on the libvirt host; on a remote host it
 *   must be a volume of a pool there), pool (default), network (default),
 *   arch (x86_64), kernel / initrd / cmdline (direct kernel boot, paths on the
 *   libvirt host), memory (MiB, overrides the size's), serial_log_dir
 *   (/var/log/libvirt/qemu: <node>-serial.log there), virt_type (kvm when the
 *   host offers it, else qemu).
 * A node is the domain <node name>, with volumes <node name>.qcow2 and
 * <node name>-seed.iso in the pool; its handle is the domain name, and its
 * <metadata> carries the OverCloud id: a destroy refuses a domain tagged with
 * another one (or none).
 *
 * Secrets: the user-data (it holds the join token) goes only into the seed
 * volume (mode 0600); it is never logged nor put in an error. */
#include "tower/providers/provider.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "shared/log.h"
#include "shared/util.h"
#include "tower/boot/seed_iso.h"
#include "tower/config.h"
#include "tower/providers/libvirt_domain.h"

#define LV_SECTION "libvirt"
#define LV_NAME_MAX 63              /* a hostname label: the domain and the guest */
#define LV_NETWORK_CONFIG "network-config.yaml"  /* in the cloud-init template dir */
#define LV_NETWORK_CONFIG_MAX 16384

struct lv_ctx {
	char *uri, *base_image, *pool, *network, *arch, *kernel, *initrd, *cmdline;
	char *serial_log_dir;
	char *network_config;       /* NULL: the seed has none */
	char virt_type[8];          /* kvm or qemu */
	unsigned memory_mib;        /* 0: the size's */
};

static pthread_once_t lv_once = PTHREAD_ONCE_INIT;

/* libvirt prints every error to stderr unless it has a handler; ours are
 * read with virGetLastErrorMessage and go into err. */
static void lv_quiet(void *data, virErrorPtr e)
{
	(void)data;
	(void)e;
}

static void lv_start(void)
{
	virInitialize();
	virSetErrorFunc(NULL, lv_quiet);
}

/* libvirt's own message for the last failed call on this thread. */
static const char *lv_why(void)
{
	const char *m = virGetLastErrorMessage();
	return m && m[0] ? m : "unknown libvirt error";
}

static int lv_last_code(void)
{
	virErrorPtr e = virGetLastError();
	return e ? e->code : 0;
}

static const char *setting(const struct provider_env *env, const char *key)
{
	const char *v = env->config ? config_get(env->config, LV_SECTION, key) : NULL;
	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int dup_setting(char **out, const struct provider_env *env, const char *key,
		       const char *def, char *err, size_t err_size)
{
	const char *v = setting(env, key);

	if (v == NULL)
		v = def;
	if (v == NULL) {
		*out = NULL;
		return 0;
	}
	if ((*out = strdup(v)) == NULL) {
		snprintf(err, err_size, "libvirt: out of memory");
		return -1;
	}
	return 0;
}

static void lv_close(void *arg)
{
	struct lv_ctx *c = arg;

	if (c == NULL)
		return;
	free(c->uri);
	free(c->base_image);
	free(c->pool);
	free(c->network);
	free(c->arch);
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	free(c->serial_log_dir);
	free(c->network_config);
	free(c);
}

static virConnectPtr lv_connect(const struct lv_ctx *c, char *err, size_t err_size)
{
	virConnectPtr conn = virConnectOpen(c->uri);

	if (conn == NULL)
		snprintf(err, err_size, "libvirt: cannot connect to %s: %s", c->uri, lv_why());
	return conn;
}

/* kvm when the host's capabilities offer it for our arch, else qemu (TCG). */
static void detect_virt_type(struct lv_ctx *c, virConnectPtr conn)
{
	char *caps = virConnectGetCapabilities(conn);
	char want[64];
	const char *guest;

	snprintf(c->virt_type, sizeof(c->virt_type), "qemu");
	if (caps == NULL)
		return;
	snprintf(want, sizeof(want), "<arch name='%s'>", c->arch);
	guest = strstr(caps, want);
	if (guest != NULL) {
		const char *end = strstr(guest, "</arch>");
		const char *kvm = strstr(guest, "<domain type='kvm'");
		if (kvm != NULL && (end == NULL || kvm < end))
			snprintf(c->virt_type, sizeof(c->virt_type), "kvm");
	}
	free(caps);
}

static void *lv_open(const struct provider_env *env, char *err, size_t err_size)
{
	struct lv_ctx *c = calloc(1, sizeof(*c));
	const char *v;
	virConnectPtr conn;

	pthread_once(&lv_once, lv_start);
	if (c == NULL) {
		snprintf(err, err_size, "libvirt: out of memory");
		return NULL;
	}
	if (dup_setting(&c->uri, env, "uri", "qemu:///system", err, err_size) ||
	    dup_setting(&c->base_image, env, "base_image", NULL, err, err_size) ||
	    dup_setting(&c->pool, env, "pool", "default", err, err_size) ||
	    dup_setting(&c->network, env, "network", "default", err, err_size) ||
	    dup_setting(&c->arch, env, "arch", "x86_64", err, err_size) ||
	    dup_setting(&c->kernel, env, "kernel", NULL, err, err_size) ||
	    dup_setting(&c->initrd, env, "initrd", NULL, err, err_size) ||
	    dup_setting(&c->cmdline, env, "cmdline", NULL, err, err_size) ||
	    dup_setting(&c->serial_log_dir, env, "serial_log_dir", "/var/log/libvirt/qemu", err,
			err_size))
		goto fail;
	if (c->base_image == NULL || c->base_image[0] != '/') {
		snprintf(err, err_size, "libvirt: base_image must be the absolute path of a qcow2 "
			 "image (set it in [libvirt] of tower.conf)");
		goto fail;
	}
	if (c->serial_log_dir[0] != '/') {
		snprintf(err, err_size, "libvirt: serial_log_dir must be an absolute path");
		goto fail;
	}
	if ((v = setting(env, "memory")) != NULL) {
		int64_t mib;
		if (util_parse_int(v, LV_MEMORY_MIB_MIN, LV_MEMORY_MIB_MAX, &mib) != 0) {
			snprintf(err, err_size, "libvirt: memory = \"%.32s\" is not %d..%d (MiB)", v,
				 LV_MEMORY_MIB_MIN, LV_MEMORY_MIB_MAX);
			goto fail;
		}
		c->memory_mib = (unsigned)mib;
	}
	if (env->cloud_init_dir != NULL) {
		char path[4096];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", env->cloud_init_dir, LV_NETWORK_CONFIG);
		c->network_config = util_read_file(path, LV_NETWORK_CONFIG_MAX, &len);
		if (c->network_config == NULL && errno != ENOENT) {
			snprintf(err, err_size, "libvirt: %s: %s", path, strerror(errno));
			goto fail;
		}
	}
	/* A wrong URI or a stopped daemon shows at the first create, plainly. */
	if ((conn = lv_connect(c, err, err_size)) == NULL)
		goto fail;
	if ((v = setting(env, "virt_type")) != NULL) {
		if (strcmp(v, "kvm") != 0 && strcmp(v, "qemu") != 0) {
			virConnectClose(conn);
			snprintf(err, err_size, "libvirt: virt_type must be kvm or qemu");
			goto fail;
		}
		snprintf(c->virt_type, sizeof(c->virt_type), "%s", v);
	} else {
		detect_virt_type(c, conn);
	}
	virConnectClose(conn);
	log_info("libvirt: %s, pool %s, network %s, base image %s, %s %s%s", c->uri, c->pool,
		 c->network, c->base_image, c->virt_type, c->arch,
		 c->kernel ? ", direct kernel boot" : "");
	return c;
fail:
	lv_close(c);
	return NULL;
}

/* ---- the base image ---- */

static bool uri_is_local(const char *uri)
{
	const char *p = strstr(uri, "://");
	size_t scheme = p ? (size_t)(p - uri) : 0;

	return p != NULL && p[3] == '/' && memchr(uri, '+', scheme) == NULL;
}

/* The virtual size in a qcow2 header (bytes 24..31, big-endian), or -1. */
static int qcow2_virtual_size(const char *path, uint64_t *size, char *err, size_t err_size)
{
	unsigned char h[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		if (errno == ENOENT)
			snprintf(err, err_size, "libvirt: base image %s not found", path);
		else
			snprintf(err, err_size, "libvirt: base image %s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, h, sizeof(h));
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, "QFI\xfb", 4) != 0) {
		snprintf(err, err_size, "libvirt: base image %s is not a qcow2 image", path);
		return -1;
	}
	*size = 0;
	for (int i = 24; i < 32; i++)
		*size = *size << 8 | h[i];
	return 0;
}

/* The base image's virtual size: libvirt's, when it is a volume of a pool;
 * else read here, when libvirt runs on this machine. */
static int base_image_size(const struct lv_ctx *c, virConnectPtr conn, uint64_t *size, char *err,
			   size_t err_size)
{
	virStorageVolPtr vol = virStorageVolLookupByPath(conn, c->base_image);
	virStorageVolInfo info;

	if (vol != NULL) {
		int rc = virStorageVolGetInfo(vol, &info);
		virStorageVolFree(vol);
		if (rc != 0) {
			snprintf(err, err_size, "libvirt: base image %s: %s", c->base_image, lv_why());
			return -1;
		}
		*size = info.capacity;
		return 0;
	}
	if (!uri_is_local(c->uri)) {
		snprintf(err, err_size, "libvirt: base image %s is not a volume of any pool on %s "
			 "(on a remote host it must be in a storage pool)", c->base_image, c->uri);
		return -1;
	}
	return qcow2_virtual_size(c->base_image, size, err, err_size);
}

/* ---- volumes ---- */

static void volume_names(const char *node, char *overlay, char *seed, size_t size)
{
	snprintf(overlay, size, "%s.qcow2", node);
	snprintf(seed, size, "%s-seed.iso", node);
}

/* Deletes a volume of the pool by name; an absent one is success. */
static int volume_delete(virStoragePoolPtr pool, const char *name, char *err, size_t err_size)
{
	virStorageVolPtr vol = virStorageVolLookupByName(pool, name);
	int rc;

	if (vol == NULL)
		return lv_last_code() == VIR_ERR_NO_STORAGE_VOL ? 0 : -1;
	rc = virStorageVolDelete(vol, 0);
	if (rc != 0)
		snprintf(err, err_size, "libvirt: deleting volume %s: %s", name, lv_why());
	virStorageVolFree(vol);
	return rc;
}

/* A volume that could not be made: said as "pool P is full" when the pool
 * has less room than the node needed, with libvirt's own words after. */
static void volume_failed(const struct lv_ctx *c, virStoragePoolPtr pool, const char *what,
			  uint64_t needed, char *err, size_t err_size)
{
	char why[512];
	virStoragePoolInfo info;

	snprintf(why, sizeof(why), "%s", lv_why());
	util_one_line(why);
	/* A refresh can fail on the half-made file; the last numbers still do. */
	virStoragePoolRefresh(pool, 0);
	if (virStoragePoolGetInfo(pool, &info) == 0 &&
	    (info.available < needed || strstr(why, "No space left") != NULL))
		snprintf(err, err_size, "libvirt: pool %s is full: %llu bytes free, the %s needs "
			 "%llu: %s", c->pool, (unsigned long long)info.available, what,
			 (unsigned long long)needed, why);
	else
		snprintf(err, err_size, "libvirt: cannot make the %s in pool %s: %s", what, c->pool,
			 why);
}

static int overlay_create(const struct lv_ctx *c, virStoragePoolPtr pool, const char *name,
			  uint64_t capacity, char *err, size_t err_size)
{
	char *xml = lv_overlay_volume_xml(name, capacity, c->base_image);
	virStorageVolPtr vol;

	if (xml == NULL) {
		snprintf(err, err_size, "libvirt: the base image path holds a control character");
		return -1;
	}
	vol = virStorageVolCreateXML(pool, xml, 0);
	free(xml);
	if (vol == NULL) {
		/* qemu-img writes the header clusters: about 256 KiB. */
		volume_failed(c, pool, "overlay volume", 256 * 1024, err, err_size);
		return -1;
	}
	virStorageVolFree(vol);
	return 0;
}

static int seed_upload(const struct lv_ctx *c, virConnectPtr conn, virStoragePoolPtr pool,
		       const char *name, const unsigned char *iso, size_t len, char *err,
		       size_t err_size)
{
	char *xml = lv_raw_volume_xml(name, len);
	virStorageVolPtr vol = NULL;
	virStreamPtr st = NULL;
	size_t off = 0;
	int rc = -1;

	if (xml == NULL) {
		snprintf(err, err_size, "libvirt: out of memory");
		return -1;
	}
	vol = virStorageVolCreateXML(pool, xml, 0);
	free(xml);
	if (vol == NULL) {
		volume_failed(c, pool, "seed volume", len, err, err_size);
		return -1;
	}
	if ((st = virStreamNew(conn, 0)) == NULL || virStorageVolUpload(vol, st, 0, len, 0) != 0)
		goto fail;
	while (off < len) {
		int n = virStreamSend(st, (const char *)iso + off, len - off > 65536 ? 65536 : len - off);
		if (n < 0)
			goto fail_stream;
		off += (size_t)n;
	}
	if (virStreamFinish(st) != 0)
		goto fail;
	rc = 0;
	goto out;
fail_stream:
	virStreamAbort(st);
fail:
	volume_failed(c, pool, "seed volume", len, err, err_size);
	virStorageVolDelete(vol, 0);
out:
	if (st != NULL)
		virStreamFree(st);
	virStorageVolFree(vol);
	return rc;
}

/* ---- domains ---- */

/* The OverCloud id a domain is tagged with; -1 when it has none. */
static int domain_overcloud_id(virDomainPtr dom, char *out, size_t out_size)
{
	char *meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, LV_METADATA_NS,
					  VIR_DOMAIN_AFFECT_CONFIG);
	int rc = lv_metadata_overcloud_id(meta, out, out_size);

	free(meta);
	return rc;
}

/* Stops and undefines dom with everything libvirt keeps for it. */
static int domain_remove(virDomainPtr dom, const char *name, char *err, size_t err_size)
{
	unsigned flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
			 VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM;

	if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) != 0 &&
	    lv_last_code() != VIR_ERR_OPERATION_INVALID) {
		snprintf(err, err_size, "libvirt: stopping domain %s: %s", name, lv_why());
		return -1;
	}
	if (virDomainUndefineFlags(dom, flags) != 0 && lv_last_code() != VIR_ERR_NO_DOMAIN) {
		snprintf(err, err_size, "libvirt: undefining domain %s: %s", name, lv_why());
		return -1;
	}
	return 0;
}

/* Removes the domain called name and its volumes when tagged as this
 * OverCloud's (an absent domain: its volumes alone). 1 when a domain of
 * that name belongs to something else, 0 done, -1 failed. */
static int node_remove(const struct lv_ctx *c, virConnectPtr conn, const char *overcloud_id,
		       const char *name, char *err, size_t err_size)
{
	char overlay[LV_NAME_MAX + 16], seed[LV_NAME_MAX + 16], tag[128];
	virDomainPtr dom = virDomainLookupByName(conn, name);
	virStoragePoolPtr pool;
	int rc = 0;

	if (dom == NULL && lv_last_code() != VIR_ERR_NO_DOMAIN) {
		snprintf(err, err_size, "libvirt: looking up domain %s: %s", name, lv_why());
		return -1;
	}
	if (dom != NULL) {
		if (domain_overcloud_id(dom, tag, sizeof(tag)) != 0 ||
		    strcmp(tag, overcloud_id) != 0) {
			virDomainFree(dom);
			return 1;
		}
		rc = domain_remove(dom, name, err, err_size);
		virDomainFree(dom);
		if (rc != 0)
			return -1;
	}
	if ((pool = virStoragePoolLookupByName(conn, c->pool)) == NULL) {
		snprintf(err, err_size, "libvirt: pool %s: %s", c->pool, lv_why());
		return -1;
	}
	/* Files made behind libvirt's back (a crash mid-create) show after a refresh. */
	virStoragePoolRefresh(pool, 0);
	volume_names(name, overlay, seed, sizeof(overlay));
	if (volume_delete(pool, overlay, err, err_size) != 0 ||
	    volume_delete(pool, seed, err, err_size) != 0)
		rc = -1;
	virStoragePoolFree(pool);
	return rc;
}

/* The node's first IPv4 address from the network's DHCP leases, if any yet. */
static void lease_address(virDomainPtr dom, char *out, size_t out_size)
{
	virDomainInterfacePtr *ifaces = NULL;
	int n = virDomainInterfaceAddresses(dom, &ifaces, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0);

	for (int i = 0; i < n; i++) {
		for (unsigned j = 0; j < ifaces[i]->naddrs && out[0] == '\0'; j++)
			if (ifaces[i]->addrs[j].type == VIR_IP_ADDR_TYPE_IPV4)
				snprintf(out, out_size, "%s", ifaces[i]->addrs[j].addr);
		virDomainInterfaceFree(ifaces[i]);
	}
	free(ifaces);
}

static int define_and_start(const struct lv_ctx *c, virConnectPtr conn,
			    const struct provider_node_request *req, const struct lv_size *size,
			    const char *overlay, const char *seed, struct provider_node *out,
			    char *err, size_t err_size)
{
	char log_path[4096];
	struct lv_domain_spec spec = {
		.name = req->name,
		.overcloud_id = req->overcloud_id,
		.group = req->group,
		.virt_type = c->virt_type,
		.arch = c->arch,
		.size = *size,
		.pool = c->pool,
		.overlay_volume = overlay,
		.seed_volume = seed,
		.network = c->network,
		.serial_log = log_path,
		.kernel = c->kernel,
		.initrd = c->initrd,
		.cmdline = c->cmdline,
	};
	char why[512];
	char *xml;
	virDomainPtr dom;

	snprintf(log_path, sizeof(log_path), "%s/%s-serial.log", c->serial_log_dir, req->name);
	if ((xml = lv_domain_xml(&spec, why, sizeof(why))) == NULL) {
		snprintf(err, err_size, "libvirt: node %s: %s", req->name, why);
		return -1;
	}
	dom = virDomainDefineXML(conn, xml);
	free(xml);
	if (dom == NULL) {
		snprintf(err, err_size, "libvirt: defining domain %s: %s", req->name, lv_why());
		return -1;
	}
	if (virDomainCreate(dom) != 0) {
		snprintf(why, sizeof(why), "%s", lv_why());
		snprintf(err, err_size, "libvirt: starting domain %s: %s", req->name, why);
		domain_remove(dom, req->name, why, sizeof(why));
		virDomainFree(dom);
		return -1;
	}
	snprintf(out->handle, sizeof(out->handle), "%s", req->name);
	lease_address(dom, out->address, sizeof(out->address));
	virDomainFree(dom);
	log_info("libvirt: domain %s started (%u vCPUs, %u MiB, %s), serial log %s", req->name,
		 size->vcpus, size->memory_mib, c->virt_type, log_path);
	return 0;
}

static int lv_create_node(void *arg, const struct provider_node_request *req,
			  struct provider_node *out, char *err, size_t err_size)
{
	struct lv_ctx *c = arg;
	char overlay[LV_NAME_MAX + 16], seed[LV_NAME_MAX + 16], meta[256], why[512];
	struct seed_iso_files files;
	struct lv_size size;
	unsigned char *iso = NULL;
	size_t iso_len = 0;
	uint64_t base_size;
	virConnectPtr conn = NULL;
	virStoragePoolPtr pool = NULL;
	bool made_overlay = false, made_seed = false;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (req->overcloud_id == NULL || !util_name_ok(req->name, LV_NAME_MAX) ||
	    seed_meta_data(req->name, req->name, meta, sizeof(meta)) != 0) {
		snprintf(err, err_size, "libvirt: a node needs a name of at most %d letters, digits, "
			 "'-', '_' or '.' and an overcloud id", LV_NAME_MAX);
		return -1;
	}
	if (req->user_data == NULL) {
		snprintf(err, err_size, "libvirt: node %s has no user-data: a domain would boot "
			 "without an agent", req->name);
		return -1;
	}
	if (lv_size_parse(req->size, &size, why, sizeof(why)) != 0) {
		snprintf(err, err_size, "libvirt: node %s: %s", req->name, why);
		return -1;
	}
	if (c->memory_mib != 0)
		size.memory_mib = c->memory_mib;
	volume_names(req->name, overlay, seed, sizeof(overlay));
	if ((conn = lv_connect(c, err, err_size)) == NULL)
		return -1;
	if (base_image_size(c, conn, &base_size, err, err_size) != 0)
		goto out;
	/* A domain of this name tagged as ours is a leftover of a create that
	 * was cut short (the tower stopped): its token is spent, it goes. */
	switch (node_remove(c, conn, req->overcloud_id, req->name, why, sizeof(why))) {
	case 0:
		break;
	case 1:
		snprintf(err, err_size, "libvirt: a domain %s exists and is not this OverCloud's",
			 req->name);
		goto out;
	default:
		snprintf(err, err_size, "%s", why);
		goto out;
	}
	if ((pool = virStoragePoolLookupByName(conn, c->pool)) == NULL) {
		snprintf(err, err_size, "libvirt: pool %s: %s", c->pool, lv_why());
		goto out;
	}
	files.user_data = req->user_data;
	files.meta_data = meta;
	files.network_config = c->network_config;
	if (seed_iso_build(&files, &iso, &iso_len, why, sizeof(why)) != 0) {
		snprintf(err, err_size, "libvirt: node %s: %s", req->name, why);
		goto out;
	}
	if (overlay_create(c, pool, overlay, base_size, err, err_size) != 0)
		goto out;
	made_overlay = true;
	if (seed_upload(c, conn, pool, seed, iso, iso_len, err, err_size) != 0)
		goto rollback;
	made_seed = true;
	if (define_and_start(c, conn, req, &size, overlay, seed, out, err, err_size) != 0)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	/* Nothing of a failed node stays: its volumes go (the domain went
	 * in define_and_start, a half-uploaded seed in seed_upload). */
	{
		char derr[256];
		if (made_seed && volume_delete(pool, seed, derr, sizeof(derr)) != 0)
			log_warn("%s (left behind)", derr);
		if (made_overlay && volume_delete(pool, overlay, derr, sizeof(derr)) != 0)
			log_warn("%s (left behind)", derr);
	}
out:
	if (iso != NULL) {
		explicit_bzero(iso, iso_len);
		free(iso);
	}
	if (pool != NULL)
		virStoragePoolFree(pool);
	if (conn != NULL)
		virConnectClose(conn);
	util_one_line(err);
	return rc;
}

static int lv_destroy_node(void *arg, const char *overcloud_id, const struct provider_node *node,
			   char *err, size_t err_size)
{
	struct lv_ctx *c = arg;
	virConnectPtr conn;
	int rc;

	/* A node whose create failed has no domain: nothing to remove. */
	if (node->handle[0] == '\0')
		return 0;
	if (!util_name_ok(node->handle, LV_NAME_MAX)) {
		snprintf(err, err_size, "libvirt: \"%.64s\" is not a domain name", node->handle);
		util_one_line(err);
		return -1;
	}
	if ((conn = lv_connect(c, err, err_size)) == NULL)
		return -1;
	rc = node_remove(c, conn, overcloud_id ? overcloud_id : "", node->handle, err, err_size);
	virConnectClose(conn);
	if (rc == 1) {
		/* Never remove a domain that is not tagged as this OverCloud's. */
		snprintf(err, err_size, "libvirt: domain %s is not tagged with overcloud id %s: not "
			 "removing it", node->handle, overcloud_id ? overcloud_id : "");
		return -1;
	}
	if (rc == 0)
		log_info("libvirt: domain %s and its volumes removed", node->handle);
	return rc;
}

const struct provider_ops provider_libvirt = {
	.name = "libvirt",
	.wants_user_data = true,
	.open = lv_open,
	.close = lv_close,
	.create_node = lv_create_node,
	.destroy_node = lv_destroy_node,
};
