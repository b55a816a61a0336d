/* fuzz_aws_xml.c — libFuzzer target for the EC2 answer reader (ec2xml.c): any
 * bytes either decode into checked fields or fail with a reason, never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tower/providers/ec2xml.h"

static void check_instance(const struct ec2_instance *in)
{
	if (!ec2xml_instance_id_ok(in->id) || in->state[0] == '\0' ||
	    strlen(in->private_ip) >= EC2_IP_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	char err[256] = "";
	struct ec2xml *x = ec2xml_parse(body, size, err, sizeof(err));
	struct ec2_error e;
	struct ec2_instance in;
	int rc;

	if (x == NULL) {
		if (strncmp(err, "bad xml", 7) != 0 && strstr(err, "limit") == NULL)
			abort();
	} else {
		/* walk the whole tree through the public verbs */
		for (int n = 0, c; n >= 0 && n < EC2XML_MAX_NODES; n++) {
			if (ec2xml_name(x, n)[0] == '\0')
				break;
			(void)strlen(ec2xml_text(x, n));
			c = ec2xml_child(x, n, "item");
			while (c >= 0)
				c = ec2xml_next(x, c);
		}
		(void)ec2xml_path(x, 0, "reservationSet/item/instancesSet/item/instanceId");
		ec2xml_free(x);
	}
	if (ec2xml_error(body, size, NULL, &e) == 0) {
		if (e.code[0] == '\0' || strlen(e.message) >= sizeof(e.message))
			abort();
		for (const char *p = e.message; *p; p++)
			if ((unsigned char)*p < 32)
				abort();
	}
	if (ec2xml_run_instances(body, size, &in, err, sizeof(err)) == 0)
		check_instance(&in);
	rc = ec2xml_describe_instance(body, size, "i-1234567890abcdef0", &in, err, sizeof(err));
	if (rc == 1)
		check_instance(&in);
	rc = ec2xml_terminate_instance(body, size, "i-1234567890abcdef0", &in, err, sizeof(err));
	if (rc == 1)
		check_instance(&in);
	return 0;
}
