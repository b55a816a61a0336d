/* test_agent_towers.c — the agent's list of tower replicas: parsing and
 * refusals of join --tower and agent.conf's tower= line, its round trip
 * through agent.conf, and an agent.conf of one tower as older agents wrote. */
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

#include "agent/config.h"
#include "shared/util.h"

static void test_lists_parsed(void **state)
{
	struct agent_config cfg;
	char text[AGENT_TOWERS_MAX * 272];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(agent_towers_parse("10.0.0.1:7443", &cfg), 0);
	assert_int_equal(cfg.tower_count, 1);
	assert_string_equal(cfg.towers[0].host, "10.0.0.1");
	assert_int_equal(cfg.towers[0].port, 7443);

	assert_int_equal(agent_towers_parse("a.example:1,[fd00::5]:2,10.0.0.3:3", &cfg), 0);
	assert_int_equal(cfg.tower_count, 3);
	assert_string_equal(cfg.towers[1].host, "fd00::5");
	assert_int_equal(cfg.towers[1].port, 2);
	assert_string_equal(cfg.towers[2].host, "10.0.0.3");
	agent_towers_format(&cfg, text, sizeof(text));
	assert_string_equal(text, "a.example:1,[fd00::5]:2,10.0.0.3:3");

	/* blanks around an entry, as people write lists */
	assert_int_equal(agent_towers_parse(" a:1 ,\tb:2 ", &cfg), 0);
	assert_int_equal(cfg.tower_count, 2);
	assert_string_equal(cfg.towers[0].host, "a");
	assert_string_equal(cfg.towers[1].host, "b");
	assert_int_equal(cfg.towers[1].port, 2);

	/* the same host on two ports is two replicas */
	assert_int_equal(agent_towers_parse("h:1,h:2", &cfg), 0);
	assert_int_equal(cfg.tower_count, 2);
}

static void test_bad_lists_refused(void **state)
{
	static const char *const bad[] = {
		"", ",", "h:1,", ",h:1", "h:1,,h:2", "h:1,h:1", "h", "h:0", "h:65536", "h:x",
		":1", "h:1;h:2", "h x:1", "h:1,  ,h:2", "h/x:1", " ",
		"h:1,h:2,h:3,h:4,h:5,h:6,h:7,h:8,h:9",
	};
	struct agent_config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(agent_towers_parse("keep:1", &cfg), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (agent_towers_parse(bad[i], &cfg) != -1)
			fail_msg("taken: \"%s\"", bad[i]);
		/* a refused list leaves the one before it */
		assert_int_equal(cfg.tower_count, 1);
		assert_string_equal(cfg.towers[0].host, "keep");
	}
	assert_int_equal(agent_towers_parse(NULL, &cfg), -1);
	/* eight is the most */
	assert_int_equal(agent_towers_parse("h:1,h:2,h:3,h:4,h:5,h:6,h:7,h:8", &cfg), 0);
	assert_int_equal(cfg.tower_count, AGENT_TOWERS_MAX);
}

static void write_conf(const char *dir, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/agent.conf", dir);
	assert_int_equal(util_write_file(path, text, strlen(text), 0600), 0);
}

static void test_conf_round_trip(void **state)
{
	char dir[] = "/tmp/oc-towers.XXXXXX", err[256];
	struct agent_config cfg, back;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", dir);
	snprintf(cfg.node_id, sizeof(cfg.node_id), "n-0123456789abcdef");
	assert_int_equal(agent_towers_parse("10.0.0.1:7443,[fd00::1]:7443,t.example:7443", &cfg), 0);
	cfg.heartbeat_s = 5;
	assert_int_equal(agent_config_save(&cfg, err, sizeof(err)), 0);
	memset(&back, 0, sizeof(back));
	assert_int_equal(agent_config_load(dir, &back, err, sizeof(err)), 0);
	assert_int_equal(back.tower_count, 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(back.towers[i].host, cfg.towers[i].host);
		assert_int_equal(back.towers[i].port, cfg.towers[i].port);
	}
	assert_int_equal(back.tower_at, 0);
	assert_string_equal(back.node_id, cfg.node_id);
	assert_int_equal(back.heartbeat_s, 5);

	/* what an agent of one tower wrote */
	write_conf(dir, "# written by overcloud-agent join\ntower=10.1.2.3:7443\nnode_id=n-1\n");
	memset(&back, 0, sizeof(back));
	assert_int_equal(agent_config_load(dir, &back, err, sizeof(err)), 0);
	assert_int_equal(back.tower_count, 1);
	assert_string_equal(back.towers[0].host, "10.1.2.3");

	/* a bad list is a clear refusal naming the line */
	write_conf(dir, "tower=10.1.2.3:7443,\nnode_id=n-1\n");
	assert_int_equal(agent_config_load(dir, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 1"));
	write_conf(dir, "node_id=n-1\n");
	assert_int_equal(agent_config_load(dir, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no tower="));

	assert_int_equal(util_remove_tree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists_parsed),
		cmocka_unit_test(test_bad_lists_refused),
		cmocka_unit_test(test_conf_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
