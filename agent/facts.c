/* facts.c — reads node facts from the kernel (uname, sysinfo) and
 * /etc/os-release; nothing here talks to the network. */
#include "agent/facts.h"

#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

void facts_normalize_arch(const char *machine, char *out, size_t size)
{
	if (strcmp(machine, "amd64") == 0 || strcmp(machine, "x86_64") == 0)
		snprintf(out, size, "x86_64");
	else if (strcmp(machine, "arm64") == 0 || strcmp(machine, "aarch64") == 0)
		snprintf(out, size, "aarch64");
	else if (strncmp(machine, "armv7", 5) == 0 || strcmp(machine, "armhf") == 0)
		snprintf(out, size, "armv7");
	else
		snprintf(out, size, "%s", machine);
}

static void read_os_release(char *out, size_t size)
{
	static const char *const paths[] = {"/etc/os-release", "/usr/lib/os-release"};
	char line[512];

	snprintf(out, size, "linux");
	for (size_t i = 0; i < 2; i++) {
		FILE *f = fopen(paths[i], "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			char *v;
			size_t len;
			if (strncmp(line, "PRETTY_NAME=", 12) != 0)
				continue;
			v = line + 12;
			v[strcspn(v, "\r\n")] = '\0';
			len = strlen(v);
			if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
				v[len - 1] = '\0';
				v++;
			}
			if (*v != '\0')
				snprintf(out, size, "%s", v);
			break;
		}
		fclose(f);
		return;
	}
}

void facts_collect(struct facts *f)
{
	struct utsname u;
	struct sysinfo si;
	long n;

	memset(f, 0, sizeof(*f));
	if (gethostname(f->hostname, sizeof(f->hostname) - 1) != 0 || f->hostname[0] == '\0')
		snprintf(f->hostname, sizeof(f->hostname), "unknown");
	if (uname(&u) == 0) {
		facts_normalize_arch(u.machine, f->arch, sizeof(f->arch));
		snprintf(f->kernel, sizeof(f->kernel), "%s", u.release);
	} else {
		snprintf(f->arch, sizeof(f->arch), "unknown");
		snprintf(f->kernel, sizeof(f->kernel), "unknown");
	}
	read_os_release(f->os, sizeof(f->os));
	n = sysconf(_SC_NPROCESSORS_ONLN);
	f->cpus = n > 0 ? (uint64_t)n : 1;
	if (sysinfo(&si) == 0)
		f->mem_total = (uint64_t)si.totalram * si.mem_unit;
}

void facts_load(uint64_t *uptime, uint64_t *mem_free, uint64_t *load1_milli)
{
	struct sysinfo si;

	*uptime = *mem_free = *load1_milli = 0;
	if (sysinfo(&si) != 0)
		return;
	*uptime = (uint64_t)si.uptime;
	*mem_free = (uint64_t)si.freeram * si.mem_unit;
	*load1_milli = (uint64_t)si.loads[0] * 1000 / (1u << SI_LOAD_SHIFT);
}
