/*
 * store.c: what chatd keeps across restarts, in one SQLite database.
 *
 * That is the bans and, on a single node, the accounts (acctdb.c; a
 * cluster keeps its accounts in Redis).  The schema is versioned (PRAGMA
 * user_version): later tables are added by a migration, and a database
 * written by a newer chatd is refused rather than misread.  The
 * file is opened at start-up, checked (quick_check) and written to once
 * (an immediate transaction), so that a missing directory, a corrupt or a
 * read-only file is a start-up error naming it, never a silent loss later.
 *
 * Everything read back is untrusted, like a client's input: a stored ban
 * passes ban_parse() again, and a row that does not is reported and skipped,
 * never used; a stored account passes the checks a Redis record does (name
 * rule, hash_valid(), fingerprint form), and one that does not is an error
 * for that login, reported, never a silent reset.  Writes are single
 * statements in WAL mode with synchronous = NORMAL: a commit appends to the
 * log without an fsync, so an operator's ban costs the event loop
 * microseconds, not a disk flush (a power cut may lose the last bans; a
 * crash of chatd loses nothing).
 *
 * Rejected: a file of our own format (SQLite gives atomic updates, a
 * schema and crash safety for free); a worker thread for ban writes (they
 * are rare and short; the store gets one when a slow operation, such as
 * an account lookup under load, needs it).
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "chatd.h"
#include "sanitize.h"

#define STORE_VERSION	2	/* the schema this chatd writes */
#define STORE_BUSY_MS	1000	/* another process holding a lock */

struct store {
	sqlite3		*db;
	char		*path;
};

static const char *const store_schema[STORE_VERSION] = {
	/* 0 -> 1: bans */
	"CREATE TABLE bans ("
	"  pattern TEXT PRIMARY KEY,"
	"  expires INTEGER NOT NULL,"	/* seconds of the epoch, 0: never */
	"  created INTEGER NOT NULL,"
	"  reason TEXT NOT NULL DEFAULT ''"
	");",
	/* 1 -> 2: accounts, keyed by the name's key (name.c) */
	"CREATE TABLE accounts ("
	"  key TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  hash TEXT NOT NULL,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE TABLE certfps ("
	"  certfp TEXT PRIMARY KEY,"
	"  key TEXT NOT NULL REFERENCES accounts(key) ON DELETE CASCADE"
	");"
	"CREATE INDEX certfps_key ON certfps(key);",
};

static int
store_exec(struct store *st, const char *sql, char *err, size_t errlen)
{
	char	*msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", st->path, msg != NULL ? msg :
		    sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return (-1);
	}
	return (0);
}

/* One integer from a query, or -1 on error. */
static long long
store_int(struct store *st, const char *sql)
{
	sqlite3_stmt	*q;
	long long	 v = -1;

	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
		return (-1);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return (v);
}

/*
 * Copies text into buf (size bytes) as one line for the log: line breaks
 * become "; ", and nothing the sanitiser would remove survives.
 */
static void
store_oneline(const char *text, char *buf, size_t size)
{
	char	line[256], clean[SANITIZE_MAX(sizeof line) + 1];
	size_t	i, n = 0;

	for (i = 0; text[i] != '\0' && n + 3 < sizeof line; i++) {
		if (text[i] == '\n') {
			memcpy(line + n, "; ", 2);
			n += 2;
		} else
			line[n++] = text[i];
	}
	n = sanitize_line(line, n, clean);
	if (n >= size)
		n = size - 1;
	memcpy(buf, clean, n);
	buf[n] = '\0';
}

/* Runs quick_check: 0 if the file is sound, else -1 with err. */
static int
store_check(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt	*q;
	const char	*r;
	char		 what[256];
	int		 rc;

	if ((rc = sqlite3_prepare_v2(st->db, "PRAGMA quick_check;", -1, &q,
	    NULL)) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", st->path,
		    sqlite3_errmsg(st->db));
		return (-1);
	}
	rc = sqlite3_step(q);
	r = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
	if (r == NULL || strcmp(r, "ok") != 0) {
		/* SQLite's report comes from the file: one safe line. */
		store_oneline(r != NULL ? r : sqlite3_errmsg(st->db), what,
		    sizeof what);
		snprintf(err, errlen, "%s: the database is corrupt (%s)",
		    st->path, what);
		sqlite3_finalize(q);
		return (-1);
	}
	sqlite3_finalize(q);
	return (0);
}

/* Brings the schema to STORE_VERSION, in one transaction. */
static int
store_migrate(struct store *st, char *err, size_t errlen)
{
	long long	v;
	char		sql[64];

	if (store_exec(st, "BEGIN IMMEDIATE;", err, errlen) != 0)
		return (-1);
	if ((v = store_int(st, "PRAGMA user_version;")) < 0) {
		snprintf(err, errlen, "%s: %s", st->path,
		    sqlite3_errmsg(st->db));
		goto fail;
	}
	if (v > STORE_VERSION) {
		snprintf(err, errlen, "%s: schema version %lld is newer than "
		    "this chatd's (%d)", st->path, v, STORE_VERSION);
		goto fail;
	}
	for (; v < STORE_VERSION; v++) {
		if (store_exec(st, store_schema[v], err, errlen) != 0)
			goto fail;
	}
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d;", STORE_VERSION);
	if (store_exec(st, sql, err, errlen) != 0 ||
	    store_exec(st, "COMMIT;", err, errlen) != 0)
		goto fail;
	return (0);
fail:
	sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
	return (-1);
}

/*
 * Opens (creating it if need be) the database at path, checks it and
 * brings its schema up to date.  Returns the store, or NULL with a message
 * naming the file in err.
 */
struct store *
store_open(const char *path, char *err, size_t errlen)
{
	struct store	*st;

	st = xcalloc(1, sizeof *st);
	st->path = xstrdup(path);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, st->db != NULL ?
		    sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	sqlite3_extended_result_codes(st->db, 1);
	if (store_check(st, err, errlen) != 0 ||
	    store_exec(st, "PRAGMA journal_mode = WAL;", err, errlen) != 0 ||
	    store_exec(st, "PRAGMA synchronous = NORMAL;", err, errlen) != 0 ||
	    store_migrate(st, err, errlen) != 0)
		goto fail;
	return (st);
fail:
	store_close(st);
	return (NULL);
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

/* Logs a failed write: the change is kept in memory, not on disk. */
static int
store_failed(struct store *st, const char *what)
{
	log_warnx("store: %s: cannot %s: %s", st->path, what,
	    sqlite3_errmsg(st->db));
	return (-1);
}

/* Saves a ban (replacing one of the same pattern).  0, or -1 (logged). */
int
store_ban_put(struct store *st, const struct ban *b)
{
	sqlite3_stmt	*q;
	int		 rc;

	if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO bans "
	    "(pattern, expires, created, reason) VALUES (?, ?, ?, ?);", -1,
	    &q, NULL) != SQLITE_OK)
		return (store_failed(st, "save a ban"));
	sqlite3_bind_text(q, 1, b->pattern, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, b->expires);
	sqlite3_bind_int64(q, 3, b->created);
	sqlite3_bind_text(q, 4, b->reason != NULL ? b->reason : "", -1,
	    SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return (rc == SQLITE_DONE ? 0 : store_failed(st, "save a ban"));
}

/* Deletes the ban of this pattern.  0, or -1 (logged). */
int
store_ban_del(struct store *st, const char *pattern)
{
	sqlite3_stmt	*q;
	int		 rc;

	if (sqlite3_prepare_v2(st->db, "DELETE FROM bans WHERE pattern = ?;",
	    -1, &q, NULL) != SQLITE_OK)
		return (store_failed(st, "delete a ban"));
	sqlite3_bind_text(q, 1, pattern, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return (rc == SQLITE_DONE ? 0 : store_failed(st, "delete a ban"));
}

/* Deletes the bans expired at now.  0, or -1 (logged). */
int
store_ban_prune(struct store *st, int64_t now)
{
	sqlite3_stmt	*q;
	int		 rc;

	if (sqlite3_prepare_v2(st->db, "DELETE FROM bans WHERE expires != 0 "
	    "AND expires <= ?;", -1, &q, NULL) != SQLITE_OK)
		return (store_failed(st, "prune bans"));
	sqlite3_bind_int64(q, 1, now);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return (rc == SQLITE_DONE ? 0 : store_failed(st, "prune bans"));
}

/*
 * Loads every stored ban still in force at now into l.  A row that is
 * not a valid ban is logged and skipped.  Returns how many were loaded,
 * or -1 with err.
 */
int
store_ban_load(struct store *st, struct bans *l, int64_t now, char *err,
    size_t errlen)
{
	sqlite3_stmt		*q;
	struct ban		 b;
	const unsigned char	*pattern, *reason;
	const char		*why;
	char			 text[BAN_REASON_MAX + 1];
	int			 rc, n = 0;

	if (sqlite3_prepare_v2(st->db, "SELECT pattern, expires, created, "
	    "reason FROM bans ORDER BY created;", -1, &q, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", st->path,
		    sqlite3_errmsg(st->db));
		return (-1);
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		pattern = sqlite3_column_text(q, 0);
		reason = sqlite3_column_text(q, 3);
		/*
		 * Written by chatd, a pattern is canonical; one that is not
		 * could never be unbanned by what chatctl bans shows.
		 */
		if (pattern == NULL || ban_parse((const char *)pattern, &b,
		    &why) != 0 || strcmp(b.pattern, (const char *)pattern) !=
		    0 || ban_reason((const char *)reason, text) != 0 ||
		    sqlite3_column_int64(q, 1) < 0) {
			log_warnx("store: %s: a stored ban is not valid; "
			    "skipped", st->path);
			continue;
		}
		b.expires = sqlite3_column_int64(q, 1);
		b.created = sqlite3_column_int64(q, 2);
		if (b.expires != 0 && b.expires <= now)
			continue;
		b.reason = text;
		ban_add(l, &b);
		n++;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s: %s", st->path,
		    sqlite3_errmsg(st->db));
		return (-1);
	}
	return (n);
}

/* Accounts ---------------------------------------------------------------- */

/* Logs an account error and returns ACCTDB_FAILED. */
static int
store_account_failed(struct store *st, const char *what)
{
	log_warnx("store: %s: cannot %s: %s", st->path, what,
	    sqlite3_errmsg(st->db));
	return (ACCTDB_FAILED);
}

/*
 * Reads the account of key into *a, with its certificates, each checked
 * as if a client had sent it.  ACCTDB_OK, _NOTFOUND, or _FAILED (logged:
 * an error, or a row chatd could not have written).
 */
int
store_account_get(struct store *st, const char *key, struct account *a)
{
	sqlite3_stmt		*q;
	const unsigned char	*name, *hash, *fp;
	int			 rc;

	memset(a, 0, sizeof *a);
	if (sqlite3_prepare_v2(st->db, "SELECT name, hash, created FROM "
	    "accounts WHERE key = ?;", -1, &q, NULL) != SQLITE_OK)
		return (store_account_failed(st, "read an account"));
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
		sqlite3_finalize(q);
		return (rc == SQLITE_DONE ? ACCTDB_NOTFOUND :
		    store_account_failed(st, "read an account"));
	}
	name = sqlite3_column_text(q, 0);
	hash = sqlite3_column_text(q, 1);
	a->created = sqlite3_column_int64(q, 2);
	if (name == NULL || hash == NULL ||
	    !name_valid((const char *)name, strlen((const char *)name)) ||
	    strlen((const char *)hash) >= HASH_MAX || a->created < 0) {
		sqlite3_finalize(q);
		goto bad;
	}
	snprintf(a->name, sizeof a->name, "%s", name);
	snprintf(a->hash, sizeof a->hash, "%s", hash);
	sqlite3_finalize(q);
	if (!hash_valid(a->hash))
		goto bad;
	if (sqlite3_prepare_v2(st->db, "SELECT certfp FROM certfps WHERE "
	    "key = ? ORDER BY rowid;", -1, &q, NULL) != SQLITE_OK)
		return (store_account_failed(st, "read an account"));
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		fp = sqlite3_column_text(q, 0);
		if (fp == NULL || a->ncertfps == ACCOUNT_CERTFPS_MAX ||
		    !wire_certfp_valid((const char *)fp,
		    strlen((const char *)fp))) {
			sqlite3_finalize(q);
			goto bad;
		}
		memcpy(a->certfps[a->ncertfps++], fp, 65);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return (store_account_failed(st, "read an account"));
	return (ACCTDB_OK);
bad:
	log_warnx("store: %s: the stored account of key %s is not valid",
	    st->path, key);
	return (ACCTDB_FAILED);
}

/* The account whose certificate is fp, as store_account_get(). */
int
store_account_by_certfp(struct store *st, const char *fp, struct account *a)
{
	sqlite3_stmt		*q;
	const unsigned char	*k;
	char			 key[NAME_LEN + 1];
	int			 rc;

	if (sqlite3_prepare_v2(st->db, "SELECT key FROM certfps WHERE "
	    "certfp = ?;", -1, &q, NULL) != SQLITE_OK)
		return (store_account_failed(st, "find a certificate"));
	sqlite3_bind_text(q, 1, fp, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(q);
		return (rc == SQLITE_DONE ? ACCTDB_NOTFOUND :
		    store_account_failed(st, "find a certificate"));
	}
	k = sqlite3_column_text(q, 0);
	snprintf(key, sizeof key, "%s", k != NULL ? (const char *)k : "");
	sqlite3_finalize(q);
	return (store_account_get(st, key, a));
}

/* Whether a and b are the same record, field by field. */
static int
store_account_same(const struct account *a, const struct account *b)
{
	unsigned	i;

	if (strcmp(a->name, b->name) != 0 || strcmp(a->hash, b->hash) != 0 ||
	    a->created != b->created || a->ncertfps != b->ncertfps)
		return (0);
	for (i = 0; i < a->ncertfps; i++) {
		if (strcmp(a->certfps[i], b->certfps[i]) != 0)
			return (0);
	}
	return (1);
}

/* Runs sql (one statement) bound to the texts of args; SQLite's result. */
static int
store_run(struct store *st, const char *sql, const char *const *args,
    int nargs, int *changes)
{
	sqlite3_stmt	*q;
	int		 i, rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
		return (SQLITE_ERROR);
	for (i = 0; i < nargs; i++)
		sqlite3_bind_text(q, i + 1, args[i], -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (changes != NULL)
		*changes = sqlite3_changes(st->db);
	return (rc);
}

/* Adds a's certificates under key; SQLITE_DONE, or why not. */
static int
store_certfps_add(struct store *st, const char *key, const struct account *a)
{
	const char	*args[2];
	unsigned	 i;
	int		 rc = SQLITE_DONE;

	for (i = 0; i < a->ncertfps && rc == SQLITE_DONE; i++) {
		args[0] = a->certfps[i];
		args[1] = key;
		rc = store_run(st, "INSERT INTO certfps (certfp, key) "
		    "VALUES (?, ?);", args, 2, NULL);
	}
	return (rc);
}

/* Creates account a under key, unless key is taken. */
int
store_account_create(struct store *st, const char *key,
    const struct account *a)
{
	char		 created[24];
	const char	*args[4] = { key, a->name, a->hash, created };
	int		 rc;

	snprintf(created, sizeof created, "%lld", (long long)a->created);
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return (store_account_failed(st, "create an account"));
	rc = store_run(st, "INSERT INTO accounts (key, name, hash, created) "
	    "VALUES (?, ?, ?, CAST(? AS INTEGER));", args, 4, NULL);
	if (rc == SQLITE_DONE)
		rc = store_certfps_add(st, key, a);
	if (rc != SQLITE_DONE) {
		sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
		return ((rc & 0xff) == SQLITE_CONSTRAINT ? ACCTDB_EXISTS :
		    store_account_failed(st, "create an account"));
	}
	if (sqlite3_exec(st->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
		return (store_account_failed(st, "create an account"));
	}
	return (ACCTDB_OK);
}

/*
 * Replaces old with a (the same key; hash and certificates may differ),
 * unless the stored account is no longer old: ACCTDB_CHANGED.  A
 * certificate another account has: ACCTDB_EXISTS.
 */
int
store_account_update(struct store *st, const char *key,
    const struct account *old, const struct account *a)
{
	struct account	 now;
	const char	*args[2] = { a->hash, key };
	int		 rc;

	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return (store_account_failed(st, "update an account"));
	if ((rc = store_account_get(st, key, &now)) != ACCTDB_OK) {
		sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
		return (rc == ACCTDB_NOTFOUND ? ACCTDB_CHANGED : rc);
	}
	if (!store_account_same(&now, old)) {
		sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
		return (ACCTDB_CHANGED);
	}
	rc = store_run(st, "UPDATE accounts SET hash = ? WHERE key = ?;",
	    args, 2, NULL);
	if (rc == SQLITE_DONE)
		rc = store_run(st, "DELETE FROM certfps WHERE key = ?;",
		    args + 1, 1, NULL);
	if (rc == SQLITE_DONE)
		rc = store_certfps_add(st, key, a);
	if (rc != SQLITE_DONE) {
		sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
		return ((rc & 0xff) == SQLITE_CONSTRAINT ? ACCTDB_EXISTS :
		    store_account_failed(st, "update an account"));
	}
	if (sqlite3_exec(st->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
		return (store_account_failed(st, "update an account"));
	}
	return (ACCTDB_OK);
}

/* Deletes the account old of key, unless it changed since it was read. */
int
store_account_delete(struct store *st, const char *key,
    const struct account *old)
{
	struct account	 now;
	int		 rc;

	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return (store_account_failed(st, "delete an account"));
	if ((rc = store_account_get(st, key, &now)) != ACCTDB_OK ||
	    !store_account_same(&now, old)) {
		sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
		return (rc == ACCTDB_OK || rc == ACCTDB_NOTFOUND ?
		    ACCTDB_CHANGED : rc);
	}
	/* Without PRAGMA foreign_keys, the cascade is ours to do. */
	if (store_run(st, "DELETE FROM certfps WHERE key = ?;", &key, 1,
	    NULL) != SQLITE_DONE ||
	    store_run(st, "DELETE FROM accounts WHERE key = ?;", &key, 1,
	    NULL) != SQLITE_DONE ||
	    sqlite3_exec(st->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
		return (store_account_failed(st, "delete an account"));
	}
	return (ACCTDB_OK);
}
