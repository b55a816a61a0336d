/* artifacts.h — the agent binaries the tower hands to booting nodes, one per
 * architecture: where each is found and its sha256 (cached per file). */
#ifndef OC_ARTIFACTS_H
#define OC_ARTIFACTS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct artifacts;

#define ARTIFACTS_MAX_BYTES (256u * 1024 * 1024)   /* an agent bigger than this is refused */

/* dir is `tower serve --artifacts DIR` (may be NULL). An agent for ARCH is
 * looked up as, in order: DIR/overcloud-agent-ARCH, <dir of the tower
 * binary>/../agents/overcloud-agent-ARCH (the build tree),
 * /usr/lib/overcloud/agents/overcloud-agent-ARCH (the package), and for the
 * tower's own architecture <dir of the tower binary>/overcloud-agent.
 * Returns NULL only when out of memory; caller frees with artifacts_free. */
struct artifacts *artifacts_new(const char *dir);
void artifacts_free(struct artifacts *a);

/* x86_64, aarch64, armv7. */
bool artifacts_arch_known(const char *arch);
/* The architecture this tower was built for (one of the above, or NULL). */
const char *artifacts_host_arch(void);

/* The agent for arch: its path and sha256 (64 hex + NUL). Safe from several
 * threads. Returns 0, or -1 with a one-line reason in err and errno set:
 * EINVAL unknown arch, ENOENT no file in any of the places, else unreadable
 * or too big. */
int artifacts_agent_sha256(struct artifacts *a, const char *arch, char path[PATH_MAX],
			   char sha256_hex[65], char *err, size_t err_size);

/* The agent's bytes (caller frees) with the sha256 of exactly those bytes.
 * Returns NULL with a reason in err and errno as above. */
unsigned char *artifacts_agent_read(struct artifacts *a, const char *arch, size_t *len,
				    char sha256_hex[65], char *err, size_t err_size);

#endif
