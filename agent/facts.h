/* facts.h — what the agent tells the tower about its node in "hello" and
 * heartbeats: hostname, arch, OS, kernel, CPUs, memory, load. */
#ifndef OC_FACTS_H
#define OC_FACTS_H

#include <stddef.h>
#include <stdint.h>

struct facts {
	char hostname[256];
	char arch[32];       /* x86_64, aarch64, armv7, ... */
	char os[128];        /* PRETTY_NAME from os-release */
	char kernel[128];
	uint64_t cpus;
	uint64_t mem_total;  /* bytes */
};

void facts_collect(struct facts *f);
/* "armv7l" -> "armv7", "amd64" -> "x86_64", "arm64" -> "aarch64". */
void facts_normalize_arch(const char *machine, char *out, size_t size);
/* Uptime (s), free memory (bytes), 1-minute load * 1000. */
void facts_load(uint64_t *uptime, uint64_t *mem_free, uint64_t *load1_milli);

#endif
