/* test_libvirt_domain.c — the libvirt provider's XML (sizes, the domain with
 * and without direct kernel boot, escaping, metadata; checked by libvirt's own
 * virt-xml-validate) and its NoCloud seed ISO, read back with real readers
 * (isoinfo, xorriso) and its user-data, the tower's own, through cloud-init schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/util.h"
#include "tower/boot/seed_iso.h"
#include "tower/boot/userdata.h"
#include "tower/providers/libvirt_domain.h"

#define PATHF(buf, ...) assert_true(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

static char scratch[64];

static int make_scratch(void **state)
{
	(void)state;
	snprintf(scratch, sizeof(scratch), "/tmp/oc-lvunit.XXXXXX");
	return mkdtemp(scratch) ? 0 : -1;
}

static int drop_scratch(void **state)
{
	(void)state;
	return util_remove_tree(scratch);
}

/* Runs a shell command; its exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static char *slurp(const char *dir, const char *name)
{
	char path[PATH_MAX];
	size_t len;

	PATHF(path, "%s/%s", dir, name);
	return util_read_file(path, 1 << 20, &len);
}

/* ---- sizes ---- */

static void test_sizes(void **state)
{
	struct lv_size s;
	char err[256];
	static const struct {
		const char *spec;
		unsigned vcpus, mib;
	} good[] = {
		{NULL, 1, 1024}, {"", 1, 1024}, {"small", 1, 1024}, {"Medium", 2, 2048},
		{"large", 4, 4096}, {"2c4g", 2, 4096}, {"1c512m", 1, 512}, {"8C16G", 8, 16384},
		{"64c256g", 64, 262144}, {"1c128m", 1, 128},
	};
	static const char *const bad[] = {
		"huge", "2c", "c4g", "2c4", "2c4t", "2c4g5", "0c1g", "65c1g", "1c64m", "1c257g",
		"99999999c1g", "2c99999999g", "-1c1g", "2 c4g", "2c4gb", "x2c4g", "2c\n4g",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(lv_size_parse(good[i].spec, &s, err, sizeof(err)), 0);
		assert_int_equal(s.vcpus, good[i].vcpus);
		assert_int_equal(s.memory_mib, good[i].mib);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(lv_size_parse(bad[i], &s, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "size \""));
		assert_null(strchr(err, '\n'));
	}
	lv_size_parse("65c1g", &s, err, sizeof(err));
	assert_non_null(strstr(err, "65 vCPUs is not 1..64"));
	lv_size_parse("1c64m", &s, err, sizeof(err));
	assert_non_null(strstr(err, "memory must be 128 MiB"));
}

/* ---- the domain ---- */

static struct lv_domain_spec base_spec(void)
{
	struct lv_domain_spec s = {
		.name = "oc-1a2b-cluster-0",
		.overcloud_id = "oc-1a2b",
		.group = "cluster",
		.virt_type = "qemu",
		.arch = "x86_64",
		.size = {2, 512},
		.pool = "lab",
		.overlay_volume = "oc-1a2b-cluster-0.qcow2",
		.seed_volume = "oc-1a2b-cluster-0-seed.iso",
		.network = "labnet",
		.serial_log = "/var/log/libvirt/qemu/oc-1a2b-cluster-0-serial.log",
	};
	return s;
}

/* virt-xml-validate: libvirt's RelaxNG schema for the document's kind. */
static int validates(const char *xml, const char *kind)
{
	char path[PATH_MAX];

	PATHF(path, "%s/%s.xml", scratch, kind);
	assert_int_equal(util_write_file(path, xml, strlen(xml), 0600), 0);
	if (run("virt-xml-validate %s %s >%s/validate.out 2>&1", path, kind, scratch) == 0)
		return 0;
	run("cat %s/validate.out %s >&2", scratch, path);
	return -1;
}

static void test_domain_disk_boot(void **state)
{
	struct lv_domain_spec s = base_spec();
	char err[256], id[64];
	char *xml = lv_domain_xml(&s, err, sizeof(err));

	(void)state;
	assert_non_null(xml);
	assert_non_null(strstr(xml, "<domain type='qemu'>"));
	assert_non_null(strstr(xml, "<name>oc-1a2b-cluster-0</name>"));
	assert_non_null(strstr(xml, "<memory unit='MiB'>512</memory>"));
	assert_non_null(strstr(xml, "<vcpu>2</vcpu>"));
	assert_non_null(strstr(xml, "<type arch='x86_64' machine='pc'>hvm</type>"));
	assert_non_null(strstr(xml, "<boot dev='hd'/>"));
	assert_null(strstr(xml, "<kernel>"));
	assert_non_null(strstr(xml, "<source pool='lab' volume='oc-1a2b-cluster-0.qcow2'/>\n"
				    "      <target dev='vda' bus='virtio'/>"));
	assert_non_null(strstr(xml, "<source pool='lab' volume='oc-1a2b-cluster-0-seed.iso'/>\n"
				    "      <target dev='hdc' bus='ide'/>\n      <readonly/>"));
	assert_non_null(strstr(xml, "<source network='labnet'/>\n      <model type='virtio'/>"));
	assert_non_null(strstr(xml, "<serial type='file'>\n      <source path='/var/log/libvirt/qemu/"
				    "oc-1a2b-cluster-0-serial.log'/>"));
	assert_non_null(strstr(xml, "xmlns:" LV_METADATA_PREFIX "='" LV_METADATA_NS "'"));
	assert_int_equal(lv_metadata_overcloud_id(xml, id, sizeof(id)), 0);
	assert_string_equal(id, "oc-1a2b");
	assert_int_equal(validates(xml, "domain"), 0);
	free(xml);
}

static void test_domain_kernel_boot(void **state)
{
	struct lv_domain_spec s = base_spec();
	char err[256];
	char *xml;

	(void)state;
	s.kernel = "/srv/img/vmlinuz";
	s.initrd = "/srv/img/initrd.img";
	s.cmdline = "root=/dev/vda console=ttyS0 ds=nocloud";
	s.virt_type = "kvm";
	xml = lv_domain_xml(&s, err, sizeof(err));
	assert_non_null(xml);
	assert_non_null(strstr(xml, "<domain type='kvm'>"));
	assert_non_null(strstr(xml, "<kernel>/srv/img/vmlinuz</kernel>\n"
				    "    <initrd>/srv/img/initrd.img</initrd>\n"
				    "    <cmdline>root=/dev/vda console=ttyS0 ds=nocloud</cmdline>"));
	assert_null(strstr(xml, "<boot dev="));
	assert_int_equal(validates(xml, "domain"), 0);
	free(xml);

	/* a kernel without initrd or cmdline */
	s.initrd = NULL;
	s.cmdline = "";
	xml = lv_domain_xml(&s, err, sizeof(err));
	assert_non_null(xml);
	assert_null(strstr(xml, "<initrd>"));
	assert_null(strstr(xml, "<cmdline>"));
	free(xml);

	/* aarch64: the virt machine, the seed on virtio-scsi */
	s = base_spec();
	s.arch = "aarch64";
	xml = lv_domain_xml(&s, err, sizeof(err));
	assert_non_null(xml);
	assert_non_null(strstr(xml, "machine='virt'"));
	assert_non_null(strstr(xml, "<target dev='sda' bus='scsi'/>"));
	assert_int_equal(validates(xml, "domain"), 0);
	free(xml);
}

static void test_domain_escaping(void **state)
{
	struct lv_domain_spec s = base_spec();
	char err[256], id[64];
	char *xml;

	(void)state;
	s.name = "a&b<c>'d\"";
	s.group = "g&'";
	s.cmdline = "console=ttyS0 x=\"<&>\"";
	s.kernel = "/k";
	s.serial_log = "/logs/it's.log";
	xml = lv_domain_xml(&s, err, sizeof(err));
	assert_non_null(xml);
	assert_non_null(strstr(xml, "<name>a&amp;b&lt;c&gt;&apos;d&quot;</name>"));
	assert_non_null(strstr(xml, ":group>g&amp;&apos;</"));
	assert_non_null(strstr(xml, "<cmdline>console=ttyS0 x=&quot;&lt;&amp;&gt;&quot;</cmdline>"));
	assert_non_null(strstr(xml, "<source path='/logs/it&apos;s.log'/>"));
	assert_null(strstr(xml, "b<c"));
	assert_int_equal(validates(xml, "domain"), 0);
	assert_int_equal(lv_metadata_overcloud_id(xml, id, sizeof(id)), 0);
	free(xml);

	/* control characters are refused, and the message stays one line */
	s = base_spec();
	s.cmdline = "console=ttyS0\nroot=/dev/sda";
	s.kernel = "/k";
	assert_null(lv_domain_xml(&s, err, sizeof(err)));
	assert_non_null(strstr(err, "control character"));
	assert_null(strchr(err, '\n'));
}

static void test_domain_refusals(void **state)
{
	struct lv_domain_spec s = base_spec();
	char err[256];

	(void)state;
	s.arch = "mips";
	assert_null(lv_domain_xml(&s, err, sizeof(err)));
	assert_non_null(strstr(err, "arch \"mips\""));
	s = base_spec();
	s.size.memory_mib = 64;
	assert_null(lv_domain_xml(&s, err, sizeof(err)));
	s = base_spec();
	s.size.vcpus = 0;
	assert_null(lv_domain_xml(&s, err, sizeof(err)));
	s = base_spec();
	s.network = NULL;
	assert_null(lv_domain_xml(&s, err, sizeof(err)));
	s = base_spec();
	s.name = "";
	assert_null(lv_domain_xml(&s, err, sizeof(err)));
}

static void test_metadata_as_libvirt_gives_it(void **state)
{
	char id[64];

	(void)state;
	/* virDomainGetMetadata's forms: libvirt's prefix, none, ours */
	assert_int_equal(lv_metadata_overcloud_id("<node xmlns=\"" LV_METADATA_NS "\">\n"
						  "  <overcloud_id>oc-9</overcloud_id>\n</node>",
						  id, sizeof(id)), 0);
	assert_string_equal(id, "oc-9");
	assert_int_equal(lv_metadata_overcloud_id("<x:node xmlns:x='n'><x:overcloud_id>oc-7"
						  "</x:overcloud_id></x:node>", id, sizeof(id)), 0);
	assert_string_equal(id, "oc-7");
	assert_int_equal(lv_metadata_overcloud_id(NULL, id, sizeof(id)), -1);
	assert_int_equal(lv_metadata_overcloud_id("<node/>", id, sizeof(id)), -1);
	assert_int_equal(lv_metadata_overcloud_id("<overcloud_id></overcloud_id>", id, sizeof(id)), -1);
	assert_int_equal(lv_metadata_overcloud_id("<overcloud_id>a&amp;b</overcloud_id>", id,
						  sizeof(id)), -1);
	assert_int_equal(lv_metadata_overcloud_id("<overcloud_id>oc-1", id, sizeof(id)), -1);
	assert_int_equal(lv_metadata_overcloud_id("<overcloud_id>0123456789</overcloud_id>", id, 4),
			 -1);
}

static void test_volumes(void **state)
{
	char *xml;

	(void)state;
	xml = lv_overlay_volume_xml("n1.qcow2", 2147483648ULL, "/srv/base & co.qcow2");
	assert_non_null(xml);
	assert_non_null(strstr(xml, "<capacity unit='bytes'>2147483648</capacity>"));
	assert_non_null(strstr(xml, "<path>/srv/base &amp; co.qcow2</path>"));
	assert_non_null(strstr(xml, "<mode>0600</mode>"));
	assert_int_equal(validates(xml, "storagevol"), 0);
	free(xml);
	xml = lv_raw_volume_xml("n1-seed.iso", 374784);
	assert_non_null(xml);
	assert_non_null(strstr(xml, "<format type='raw'/>"));
	assert_non_null(strstr(xml, "<mode>0600</mode>"));
	assert_int_equal(validates(xml, "storagevol"), 0);
	free(xml);
	assert_null(lv_overlay_volume_xml("n1", 1, "/a\nb"));
}

/* ---- the seed ---- */

static const char ca_pem[] =
	"-----BEGIN CERTIFICATE-----\nMIIBljCCATqgAwIBAgIQPJbfpSJ7bikCky5FpRNx9z\n"
	"-----END CERTIFICATE-----\n";
static const char token[] = "16c7a5eb0712.db74020eb6f0967311805efa2097bd65";

/* The tower's real user-data, from the shipped template. */
static char *tower_user_data(void)
{
	char dir[PATH_MAX], err[256];
	const char *src = getenv("OC_SRC");
	size_t len;
	struct userdata_params p = {
		.tower_host = "10.233.0.1",
		.agent_port = 6126,
		.api_port = 6125,
		.ca_pem = ca_pem,
		.ca_pin = "sha256:276cc95bf9c56864a83fb94f57e5987c441c55ceec3f0a3ad686438351eee5f3",
		.join_token = token,
		.role = "demo",
		.arch = "x86_64",
		.agent_sha256 = "12f9b2ef7e1047164f075622329d743ce8471fc345908cf42a9b17302938a7d6",
		.node_name = "oc-1a2b-cluster-0",
		.token_expires = 1796601600,
	};
	char *ud;

	if (src != NULL && src[0] != '\0') {
		PATHF(dir, "%s/cloud-init", src);
	} else {
		PATHF(dir, "%s", __FILE__);
		*strrchr(dir, '/') = '\0';
		strcat(dir, "/../../cloud-init");
	}
	p.template_dir = dir;
	ud = userdata_render(&p, &len, err, sizeof(err));
	if (ud == NULL)
		fail_msg("userdata_render: %s", err);
	return ud;
}

static void test_seed_iso_read_back(void **state)
{
	char meta[256], iso_path[PATH_MAX], out[PATH_MAX];
	const char *netcfg = "version: 2\nethernets:\n  primary:\n    match:\n      name: \"e*\"\n"
			     "    dhcp4: true\n";
	struct seed_iso_files f;
	unsigned char *iso;
	size_t len;
	char err[256], *ud = tower_user_data(), *got;

	(void)state;
	assert_int_equal(seed_meta_data("oc-1a2b-cluster-0", "oc-1a2b-cluster-0", meta, sizeof(meta)), 0);
	f.user_data = ud;
	f.meta_data = meta;
	f.network_config = netcfg;
	assert_int_equal(seed_iso_build(&f, &iso, &len, err, sizeof(err)), 0);
	assert_true(len > 0 && len % 2048 == 0 && len < SEED_ISO_MAX_BYTES);
	print_message("seed ISO: %zu bytes for %zu bytes of user-data\n", len, strlen(ud));
	PATHF(iso_path, "%s/seed.iso", scratch);
	assert_int_equal(util_write_file(iso_path, iso, len, 0600), 0);
	explicit_bzero(iso, len);
	free(iso);

	/* the label cloud-init's NoCloud looks for */
	assert_int_equal(run("isoinfo -d -i %s | grep -qx 'Volume id: cidata'", iso_path), 0);
	assert_int_equal(run("isoinfo -d -i %s | grep -q 'Rock Ridge signatures version'", iso_path), 0);
	assert_int_equal(run("isoinfo -d -i %s | grep -q 'Joliet with UCS level'", iso_path), 0);
	/* the three names, as a Rock Ridge reader lists them */
	assert_int_equal(run("xorriso -indev %s -ls / 2>/dev/null | tr -d \"'\" | sort | tr '\\n' ' ' "
			     "| grep -qx 'meta-data network-config user-data '", iso_path), 0);
	PATHF(out, "%s/x", scratch);
	assert_int_equal(run("xorriso -osirrox on -indev %s -extract / %s >/dev/null 2>&1", iso_path,
			     out), 0);
	got = slurp(out, "user-data");
	assert_non_null(got);
	assert_string_equal(got, ud);
	free(got);
	got = slurp(out, "meta-data");
	assert_non_null(got);
	assert_string_equal(got, "instance-id: oc-1a2b-cluster-0\nlocal-hostname: oc-1a2b-cluster-0\n");
	free(got);
	got = slurp(out, "network-config");
	assert_non_null(got);
	assert_string_equal(got, netcfg);
	free(got);
	/* the same bytes through isoinfo, by Rock Ridge and by Joliet names */
	assert_int_equal(run("isoinfo -R -i %s -x /user-data | cmp -s - %s/user-data", iso_path, out), 0);
	assert_int_equal(run("isoinfo -J -i %s -x /user-data | cmp -s - %s/user-data", iso_path, out), 0);
	/* blkid (what cloud-init's NoCloud asks for LABEL=cidata) */
	assert_int_equal(run("blkid -p -s LABEL -o value %s | grep -qx cidata", iso_path), 0);
	/* what the node gets is a valid cloud-config to cloud-init itself */
	assert_int_equal(run("cloud-init schema --config-file %s/user-data >%s/schema.out 2>&1 && "
			     "grep -q '^Valid cloud-config' %s/schema.out", out, scratch, scratch), 0);
	/* ... and the check is a real one: a broken copy fails it */
	assert_int_equal(run("sed \"s/permissions: '0600'/permissions: 600/\" %s/user-data >%s/bad.yaml && "
			     "! cmp -s %s/user-data %s/bad.yaml && "
			     "! cloud-init schema --config-file %s/bad.yaml >/dev/null 2>&1",
			     out, scratch, out, scratch, scratch), 0);
	free(ud);
}

static void test_seed_without_network_config(void **state)
{
	struct seed_iso_files f = {"#cloud-config\n{}\n", "instance-id: x\n", NULL};
	char err[256], path[PATH_MAX];
	unsigned char *iso;
	size_t len;

	(void)state;
	assert_int_equal(seed_iso_build(&f, &iso, &len, err, sizeof(err)), 0);
	PATHF(path, "%s/seed2.iso", scratch);
	assert_int_equal(util_write_file(path, iso, len, 0600), 0);
	free(iso);
	assert_int_equal(run("xorriso -indev %s -ls / 2>/dev/null | tr -d \"'\" | sort | tr '\\n' ' ' "
			     "| grep -qx 'meta-data user-data '", path), 0);

	f.user_data = NULL;
	assert_int_equal(seed_iso_build(&f, &iso, &len, err, sizeof(err)), -1);
	assert_null(iso);
	assert_non_null(strstr(err, "user-data and meta-data"));
}

static void test_meta_data_refusals(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(seed_meta_data("a b", "h", out, sizeof(out)), -1);
	assert_int_equal(seed_meta_data("a", "h\nx: y", out, sizeof(out)), -1);
	assert_int_equal(seed_meta_data("a", "", out, sizeof(out)), -1);
	assert_int_equal(seed_meta_data("a", "h:", out, sizeof(out)), -1);
	assert_int_equal(seed_meta_data(NULL, "h", out, sizeof(out)), -1);
	assert_int_equal(seed_meta_data("0123456789", "0123456789", out, 20), -1);
	assert_int_equal(seed_meta_data("n-1.x_y", "n-1", out, sizeof(out)), 0);
	assert_string_equal(out, "instance-id: n-1.x_y\nlocal-hostname: n-1\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_domain_disk_boot),
		cmocka_unit_test(test_domain_kernel_boot),
		cmocka_unit_test(test_domain_escaping),
		cmocka_unit_test(test_domain_refusals),
		cmocka_unit_test(test_metadata_as_libvirt_gives_it),
		cmocka_unit_test(test_volumes),
		cmocka_unit_test(test_seed_iso_read_back),
		cmocka_unit_test(test_seed_without_network_config),
		cmocka_unit_test(test_meta_data_refusals),
	};
	return cmocka_run_group_tests(tests, make_scratch, drop_scratch);
}
