/* client.h — how the tower CLI talks to a running tower's API: finds it
 * (--state DIR or OVERCLOUD_URL/TOKEN/CA), makes HTTPS calls, parses JSON. */
#ifndef OC_CLIENT_H
#define OC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct client;

/* state_given: --state was on the command line, so it wins over the
 * environment. Returns NULL with a one-line reason in err. */
struct client *client_new(const char *state_dir, bool state_given, char *err, size_t err_size);
void client_free(struct client *cl);

/* Calls the API. body may be NULL. On a 2xx reply returns its JSON (caller
 * json_decref's; a non-JSON reply is returned as a JSON string) and sets
 * *status; otherwise returns NULL with "<status>: <error>: <detail>" or a
 * transport error in err. */
json_t *client_call(struct client *cl, const char *method, const char *path, json_t *body,
		    long *status, char *err, size_t err_size);

/* Follows a Server-Sent Events stream at path, calling on_event for each
 * event with its parsed JSON data, until the server closes it or on_event
 * returns non-zero. Returns 0, or -1 with err. */
typedef int (*client_event_fn)(void *arg, const char *event, json_t *data);
int client_stream(struct client *cl, const char *path, client_event_fn on_event, void *arg,
		  char *err, size_t err_size);

#endif
