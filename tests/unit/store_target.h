/* store_target.h — where a unit test's store lives: a sqlite file in its temp
 * dir, or, with OC_TEST_STORE_URL set (tests/integration/pg_run.sh), a fresh
 * PostgreSQL database of its own; and raw SQL on it, as another process would. */
#ifndef OC_TEST_STORE_TARGET_H
#define OC_TEST_STORE_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#define STORE_TARGET_MAX 512

static inline const char *store_target_pg_url(void)
{
	const char *url = getenv("OC_TEST_STORE_URL");

	return url != NULL && url[0] != '\0' ? url : NULL;
}

static inline bool store_target_is_pg_run(void)
{
	return store_target_pg_url() != NULL;
}

/* Runs sql on target; 0 when it succeeded. */
static inline int store_target_exec(const char *target, const char *sql)
{
	int rc;

	if (strncmp(target, "postgresql://", 13) == 0) {
		PGconn *pg = PQconnectdb(target);
		PGresult *res;

		if (PQstatus(pg) != CONNECTION_OK) {
			fprintf(stderr, "store_target: %s", PQerrorMessage(pg));
			PQfinish(pg);
			return -1;
		}
		res = PQexec(pg, sql);
		rc = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK
			     ? 0 : -1;
		PQclear(res);
		PQfinish(pg);
		return rc;
	} else {
		sqlite3 *db;

		if (sqlite3_open_v2(target, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
		    SQLITE_OK) {
			sqlite3_close(db);
			return -1;
		}
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
		sqlite3_close(db);
		return rc;
	}
}

/* The first column of the first row of sql as an integer, or -1. */
static inline int64_t store_target_int(const char *target, const char *sql)
{
	int64_t v = -1;

	if (strncmp(target, "postgresql://", 13) == 0) {
		PGconn *pg = PQconnectdb(target);
		PGresult *res = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, sql) : NULL;

		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
			v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		PQfinish(pg);
	} else {
		sqlite3 *db;
		sqlite3_stmt *s;

		if (sqlite3_open_v2(target, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
		    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
			if (sqlite3_step(s) == SQLITE_ROW)
				v = sqlite3_column_int64(s, 0);
			sqlite3_finalize(s);
		}
		sqlite3_close(db);
	}
	return v;
}

/* A store target for one test: dir/name as a sqlite file, or a new
 * PostgreSQL schema (named after this process and a counter) that the URL
 * puts first in the search path, so the store's tables go there. A schema
 * costs a catalog row where a database costs a copy of the template. */
static inline int store_target_make(const char *dir, const char *name, char *out, size_t size)
{
	static unsigned counter;
	char schema[64], sql[128];

	if (!store_target_is_pg_run()) {
		snprintf(out, size, "%s/%s", dir, name);
		return 0;
	}
	snprintf(schema, sizeof(schema), "oc_test_%ld_%u", (long)getpid(), counter++);
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
	if (store_target_exec(store_target_pg_url(), sql) != 0)
		return -1;
	snprintf(out, size, "%s%soptions=-csearch_path%%3D%s", store_target_pg_url(),
		 strchr(store_target_pg_url(), '?') ? "&" : "?", schema);
	return 0;
}

/* Drops the schema store_target_make made (a sqlite file goes with its dir). */
static inline void store_target_drop(const char *target)
{
	const char *schema;
	char sql[128];

	if (strncmp(target, "postgresql://", 13) != 0)
		return;
	schema = strstr(target, "search_path%3D");
	if (schema == NULL)
		return;
	schema += strlen("search_path%3D");
	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
	if (store_target_exec(store_target_pg_url(), sql) != 0)
		fprintf(stderr, "store_target: could not drop %s\n", schema);
}

#endif
