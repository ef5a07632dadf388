/*
 * Unit tests for store.c on real SQLite files in a temporary directory.
 *
 * Open creates the file at schema version 2 (and brings a version 1
 * file, bans only, up to it without losing a ban); bans go in and come back
 * (those expired at load time do not), are deleted and pruned.  Rows
 * planted behind chatd's back (through the sqlite3 API, as an operator's
 * sqlite3 shell or a damaged disk would) that are not valid bans are
 * skipped with a log line naming the file, and the others still load.
 * Then every way the file can be wrong at start-up, each refused with a
 * message naming it: garbage over the header, a populated file cut short
 * in the middle of a page, a page of zeros (quick_check), a schema from a
 * newer chatd, a file chatd may not write, a directory that does not
 * exist.  Accounts: created once per name key (a look-alike is the same
 * account), read back with their certificates, found by certificate,
 * updated and deleted only as they were read (a compare-and-set), a
 * certificate of another account refused, and a row planted with a bad
 * hash, name or fingerprint is an error, never an account.
 *
 * The read-only case must really fail to write: as root, permission bits
 * do not stop a write, so when run as root the open is made in a child
 * that has become nobody (the directory is made enterable for it), and
 * the test first checks that the child cannot open the file for writing.
 * Rejected: a read-only bind mount, which needs a mount namespace and is
 * not available to every CI runner.
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <sqlite3.h>

#include "chatd.h"
#include "run_suite.h"

#define NOW		1700000000LL
#define SKIPPED		"a stored ban is not valid; skipped"

static char		 dir[256];
static char		 db[512];	/* dir/chatd.db */
static struct bans	 l;

/*
 * The directory is made and removed by the parent (an unchecked fixture):
 * a failed test's child exits at once, without its teardown, and what it
 * left is then removed by the next test's setup or by the parent.
 */
static void
dir_setup(void)
{
	const char	*tmp = getenv("TMPDIR");

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	if ((size_t)snprintf(dir, sizeof dir, "%s/chatd-store.XXXXXX", tmp) >=
	    sizeof dir)
		ck_abort_msg("TMPDIR %s is too long", tmp);
	if (mkdtemp(dir) == NULL)
		ck_abort_msg("mkdtemp %s: %s", dir, strerror(errno));
}

/* Empties dir (of files: the tests make no more). */
static void
clear_dir(void)
{
	char		 path[600];
	struct dirent	*e;
	DIR		*d;

	if ((d = opendir(dir)) == NULL)
		ck_abort_msg("%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

static void
dir_teardown(void)
{
	clear_dir();
	rmdir(dir);
}

static void
setup(void)
{
	clear_dir();
	snprintf(db, sizeof db, "%s/chatd.db", dir);
	ban_init(&l);
}

static void
teardown(void)
{
	ban_clear(&l);
	clear_dir();
}

/* SQL behind the store's back -------------------------------------- */

static sqlite3 *
sql_open(const char *path)
{
	sqlite3	*h;

	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		ck_abort_msg("sqlite3_open %s: %s", path, sqlite3_errmsg(h));
	return (h);
}

static void
sql_exec(const char *path, const char *sql)
{
	sqlite3	*h = sql_open(path);
	char	*msg = NULL;

	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		ck_abort_msg("%s: %s", sql, msg);
	sqlite3_close(h);
}

/* One integer from a query. */
static long long
sql_int(const char *path, const char *sql)
{
	sqlite3		*h = sql_open(path);
	sqlite3_stmt	*q;
	long long	 v;

	if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) != SQLITE_OK)
		ck_abort_msg("%s: %s", sql, sqlite3_errmsg(h));
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(h);
	return (v);
}

/* One text from a query, in buf. */
static const char *
sql_text(const char *path, const char *sql, char *buf, size_t size)
{
	sqlite3		*h = sql_open(path);
	sqlite3_stmt	*q;

	if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) != SQLITE_OK)
		ck_abort_msg("%s: %s", sql, sqlite3_errmsg(h));
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	snprintf(buf, size, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(h);
	return (buf);
}

/*
 * Plants a row as is: pattern NULL for a NULL, reason the bytes given
 * (reason_len of them).
 */
static void
plant(sqlite3 *h, const char *pattern, long long expires, long long created,
    const char *reason, int reason_len)
{
	sqlite3_stmt	*q;

	if (sqlite3_prepare_v2(h, "INSERT INTO bans (pattern, expires, "
	    "created, reason) VALUES (?, ?, ?, ?);", -1, &q, NULL) !=
	    SQLITE_OK)
		ck_abort_msg("prepare: %s", sqlite3_errmsg(h));
	if (pattern != NULL)
		sqlite3_bind_text(q, 1, pattern, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 1);
	sqlite3_bind_int64(q, 2, expires);
	sqlite3_bind_int64(q, 3, created);
	sqlite3_bind_text(q, 4, reason, reason_len, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		ck_abort_msg("plant %s: %s", pattern, sqlite3_errmsg(h));
	sqlite3_finalize(q);
}

/* The store --------------------------------------------------------- */

static struct store *
open_ok(void)
{
	struct store	*st;
	char		 err[512] = "";

	st = store_open(db, err, sizeof err);
	ck_assert_msg(st != NULL, "store_open: %s", err);
	return (st);
}

/* store_open() fails; its message, in err. */
static void
open_fails(char *err, size_t errlen)
{
	struct store	*st;

	memset(err, 0, errlen);
	st = store_open(db, err, errlen);
	ck_assert_msg(st == NULL, "%s opened", db);
	ck_assert_msg(err[0] != '\0', "no message");
}

/* err names the file: "DB: ..." */
static void
assert_names_db(const char *err)
{
	ck_assert_msg(strncmp(err, db, strlen(db)) == 0 &&
	    strncmp(err + strlen(db), ": ", 2) == 0, "'%s' does not start "
	    "with '%s: '", err, db);
}

static void
put(struct store *st, const char *pattern, int64_t expires, int64_t created,
    const char *reason)
{
	struct ban	 b;
	const char	*why;

	ck_assert_msg(ban_parse(pattern, &b, &why) == 0, "%s: %s", pattern,
	    why);
	b.expires = expires;
	b.created = created;
	b.reason = (char *)reason;
	ck_assert_int_eq(store_ban_put(st, &b), 0);
}

static int
load(struct store *st, int64_t now)
{
	char	err[512] = "";
	int	n;

	ban_clear(&l);
	n = store_ban_load(st, &l, now, err, sizeof err);
	ck_assert_msg(n >= 0, "store_ban_load: %s", err);
	ck_assert_uint_eq(l.n, (unsigned)n);
	return (n);
}

/* A populated store, closed: n bans with reasons, created 1..n. */
static void
populate(unsigned n)
{
	struct store	*st = open_ok();
	char		 pattern[32], reason[128];
	unsigned	 i;

	for (i = 1; i <= n; i++) {
		snprintf(pattern, sizeof pattern, "user%u", i);
		snprintf(reason, sizeof reason, "ban number %u, with a reason "
		    "long enough to fill a few pages of the file", i);
		put(st, pattern, 0, i, reason);
	}
	store_close(st);
}

static off_t
file_size(const char *path)
{
	struct stat	sb;

	if (stat(path, &sb) == -1)
		ck_abort_msg("stat %s: %s", path, strerror(errno));
	return (sb.st_size);
}

/*
 * A digest of the file's bytes (FNV-1a, 64 bits), to see that it did not
 * change; no allocation, so that none is live across a fork.
 */
static uint64_t
file_digest(const char *path)
{
	unsigned char	 buf[4096];
	uint64_t	 h = 14695981039346656037ULL;
	ssize_t		 n, i;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		ck_abort_msg("%s: %s", path, strerror(errno));
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (i = 0; i < n; i++) {
			h ^= buf[i];
			h *= 1099511628211ULL;
		}
	}
	ck_assert_int_eq(n, 0);
	close(fd);
	return (h);
}

/* The file holds all there is: no log beside it after a clean close. */
static void
assert_no_wal(void)
{
	char	wal[PATH_MAX + 8];

	snprintf(wal, sizeof wal, "%s-wal", db);
	ck_assert_msg(access(wal, F_OK) == -1, "%s left behind", wal);
}

START_TEST(test_open_creates)
{
	struct store	*st;
	char		 buf[64];

	ck_assert_int_eq(access(db, F_OK), -1);
	st = open_ok();
	ck_assert_int_eq(access(db, F_OK), 0);
	store_close(st);
	assert_no_wal();

	ck_assert_int_eq(sql_int(db, "PRAGMA user_version;"), 2);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM sqlite_master "
	    "WHERE type = 'table' AND name = 'bans';"), 1);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM bans;"), 0);
	ck_assert_str_eq(sql_text(db, "PRAGMA journal_mode;", buf,
	    sizeof buf), "wal");

	/* Opened again: the same version, what it held kept. */
	st = open_ok();
	put(st, "mallory", 0, 1, "kept");
	store_close(st);
	st = open_ok();
	ck_assert_int_eq(load(st, NOW), 1);
	store_close(st);
	ck_assert_int_eq(sql_int(db, "PRAGMA user_version;"), 2);
}
END_TEST

/* An empty file (touch(1)) is a new database, not a corrupt one. */
START_TEST(test_open_empty_file)
{
	struct store	*st;
	int		 fd;

	if ((fd = open(db, O_WRONLY | O_CREAT | O_EXCL, 0644)) == -1)
		ck_abort_msg("%s: %s", db, strerror(errno));
	close(fd);
	st = open_ok();
	store_close(st);
	ck_assert_int_eq(sql_int(db, "PRAGMA user_version;"), 2);
}
END_TEST

START_TEST(test_round_trip)
{
	struct store	*st = open_ok();
	struct ban	*b;

	put(st, "192.0.2.0/24", 0, 100, "flood");
	put(st, "2001:db8::/48", NOW + 3600, 200, NULL);
	put(st, "Troll*", NOW - 1, 300, "expired");
	put(st, "mallory", NOW, 400, "expired at now");
	put(st, "spam??", NOW + 1, 500, "caf\xc3\xa9 \"quoted\"");
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM bans;"), 5);

	ck_assert_int_eq(load(st, NOW), 3);
	ck_assert_ptr_null(ban_find(&l, "Troll*"));
	ck_assert_ptr_null(ban_find(&l, "mallory"));

	b = ban_find(&l, "192.0.2.0/24");
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->kind, BAN_ADDRESS);
	ck_assert_uint_eq(b->net.prefix, 24);
	ck_assert_int_eq(b->expires, 0);
	ck_assert_int_eq(b->created, 100);
	ck_assert_str_eq(b->reason, "flood");

	b = ban_find(&l, "2001:db8::/48");
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->expires, NOW + 3600);
	ck_assert_int_eq(b->created, 200);
	ck_assert_str_eq(b->reason, "");	/* none is stored as "" */

	b = ban_find(&l, "spam??");
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->kind, BAN_NAME);
	ck_assert_str_eq(b->key, "spam??");
	ck_assert_str_eq(b->reason, "caf\xc3\xa9 \"quoted\"");

	/* Loaded oldest first, so the newest is first in the list. */
	ck_assert_str_eq(TAILQ_FIRST(&l.list)->pattern, "spam??");
	ck_assert_str_eq(TAILQ_LAST(&l.list, ban_list)->pattern,
	    "192.0.2.0/24");

	/* A put of the same pattern replaces the row. */
	put(st, "192.0.2.0/24", NOW + 60, 600, "again");
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM bans;"), 5);
	ck_assert_int_eq(load(st, NOW), 3);
	b = ban_find(&l, "192.0.2.0/24");
	ck_assert_int_eq(b->expires, NOW + 60);
	ck_assert_str_eq(b->reason, "again");

	/* Later, fewer are in force. */
	ck_assert_int_eq(load(st, NOW + 30), 2);
	ck_assert_ptr_null(ban_find(&l, "spam??"));
	ck_assert_int_eq(load(st, NOW + 3600), 0);
	store_close(st);
}
END_TEST

START_TEST(test_del)
{
	struct store	*st = open_ok();

	put(st, "alice", 0, 1, "");
	put(st, "bob", 0, 2, "");
	ck_assert_int_eq(store_ban_del(st, "alice"), 0);
	ck_assert_int_eq(load(st, NOW), 1);
	ck_assert_ptr_null(ban_find(&l, "alice"));
	ck_assert_ptr_nonnull(ban_find(&l, "bob"));
	/* Deleting what is not there is no error. */
	ck_assert_int_eq(store_ban_del(st, "alice"), 0);
	ck_assert_int_eq(store_ban_del(st, "carol"), 0);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM bans;"), 1);
	store_close(st);

	/* And stays deleted across a reopen. */
	st = open_ok();
	ck_assert_int_eq(load(st, NOW), 1);
	store_close(st);
}
END_TEST

START_TEST(test_prune)
{
	struct store	*st = open_ok();

	put(st, "a1", NOW - 10, 1, "");
	put(st, "a2", NOW, 2, "");
	put(st, "a3", NOW + 1, 3, "");
	put(st, "a4", 0, 4, "");
	ck_assert_int_eq(store_ban_prune(st, NOW), 0);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM bans;"), 2);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM bans WHERE "
	    "pattern IN ('a3', 'a4');"), 2);
	ck_assert_int_eq(store_ban_prune(st, NOW), 0);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM bans;"), 2);
	/* Bans for ever are never pruned. */
	ck_assert_int_eq(store_ban_prune(st, INT64_MAX), 0);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM bans;"), 1);
	ck_assert_int_eq(load(st, INT64_MAX), 1);
	ck_assert_ptr_nonnull(ban_find(&l, "a4"));
	store_close(st);
}
END_TEST

/* What the store logs while fn runs, in out (NUL-terminated). */
static void
capture_stderr(void (*fn)(void *), void *arg, char *out, size_t size)
{
	char	path[PATH_MAX + 16];
	ssize_t	n;
	int	fd, saved;

	snprintf(path, sizeof path, "%s/stderr", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1)
		ck_abort_msg("%s: %s", path, strerror(errno));
	fflush(stderr);
	if ((saved = dup(STDERR_FILENO)) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1)
		ck_abort_msg("dup: %s", strerror(errno));
	fn(arg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, out, size - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
}

static int	loaded;

static void
load_now(void *arg)
{
	loaded = load(arg, NOW);
}

/* How many times needle is in haystack. */
static unsigned
occurrences(const char *haystack, const char *needle)
{
	unsigned	n = 0;

	while ((haystack = strstr(haystack, needle)) != NULL) {
		n++;
		haystack += strlen(needle);
	}
	return (n);
}

START_TEST(test_bad_rows_skipped)
{
	struct store	*st;
	sqlite3		*h;
	char		 log[8192], line[700], big[BAN_REASON_MAX + 2];

	store_close(open_ok());
	h = sql_open(db);
	/* Seven rows that are no bans ... */
	plant(h, "bad pattern!", 0, 1, "", -1);
	plant(h, "::/129", 0, 2, "", -1);
	plant(h, "*", 0, 3, "", -1);
	plant(h, NULL, 0, 4, "", -1);
	plant(h, "x1", 0, 5, "\x1b[2J\x1b[31mred", -1);
	plant(h, "x2", 0, 6, "tab\there", -1);
	memset(big, 'r', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	plant(h, "x3", 0, 7, big, -1);
	/* ... among three that are. */
	plant(h, "good1", 0, 8, "fine", -1);
	plant(h, "192.0.2.1", NOW + 1, 9, "", -1);
	big[BAN_REASON_MAX] = '\0';
	plant(h, "good2", 0, 10, big, -1);
	sqlite3_close(h);

	st = open_ok();
	capture_stderr(load_now, st, log, sizeof log);
	store_close(st);

	ck_assert_int_eq(loaded, 3);
	ck_assert_ptr_nonnull(ban_find(&l, "good1"));
	ck_assert_str_eq(ban_find(&l, "good1")->reason, "fine");
	ck_assert_ptr_nonnull(ban_find(&l, "192.0.2.1"));
	ck_assert_uint_eq(strlen(ban_find(&l, "good2")->reason),
	    BAN_REASON_MAX);
	ck_assert_ptr_null(ban_find(&l, "x1"));
	ck_assert_ptr_null(ban_find(&l, "x2"));
	ck_assert_ptr_null(ban_find(&l, "x3"));

	/* One line for each, naming the file; none of the bad bytes. */
	snprintf(line, sizeof line, "warning: store: %s: " SKIPPED "\n", db);
	ck_assert_msg(occurrences(log, line) == 7, "want 7 of '%s' in:\n%s",
	    line, log);
	ck_assert_ptr_null(strchr(log, '\x1b'));
	ck_assert_ptr_null(strstr(log, "bad pattern!"));
	/* The rows are left where they are for the operator to look at. */
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM bans;"), 10);
}
END_TEST

/* A row whose expiry is before the epoch is not a ban in force. */
START_TEST(test_negative_expiry_skipped)
{
	struct store	*st;
	sqlite3		*h;

	store_close(open_ok());
	h = sql_open(db);
	plant(h, "neg", -5, 1, "", -1);
	plant(h, "pos", 0, 2, "", -1);
	sqlite3_close(h);

	st = open_ok();
	ck_assert_int_eq(load(st, NOW), 1);
	ck_assert_ptr_null(ban_find(&l, "neg"));
	store_close(st);
}
END_TEST

/* Corrupt files ----------------------------------------------------- */

/* Writes len bytes of pattern at offset of the file. */
static void
overwrite(off_t offset, int byte, size_t len)
{
	char	buf[65536];
	int	fd;

	ck_assert_uint_le(len, sizeof buf);
	memset(buf, byte, len);
	if ((fd = open(db, O_WRONLY)) == -1)
		ck_abort_msg("%s: %s", db, strerror(errno));
	ck_assert_int_eq(pwrite(fd, buf, len, offset), (ssize_t)len);
	close(fd);
}

/* The page size of the database, from its header. */
static size_t
page_size(void)
{
	unsigned char	h[18];
	size_t		n;
	int		fd;

	if ((fd = open(db, O_RDONLY)) == -1)
		ck_abort_msg("%s: %s", db, strerror(errno));
	ck_assert_int_eq(pread(fd, h, sizeof h, 0), (ssize_t)sizeof h);
	close(fd);
	ck_assert_mem_eq(h, "SQLite format 3", 16);
	n = (size_t)h[16] << 8 | h[17];
	return (n == 1 ? 65536 : n);
}

START_TEST(test_corrupt_header)
{
	char	err[512];

	populate(20);
	assert_no_wal();
	overwrite(0, 'G', 100);
	open_fails(err, sizeof err);
	assert_names_db(err);
	ck_assert_str_eq(err + strlen(db), ": file is not a database");
}
END_TEST

START_TEST(test_corrupt_truncated)
{
	char	err[512];
	size_t	ps;

	populate(300);
	assert_no_wal();
	ps = page_size();
	ck_assert_msg(file_size(db) > (off_t)(4 * ps), "only %lld bytes",
	    (long long)file_size(db));
	/* Two pages and a half: the schema is there, the rows are cut. */
	ck_assert_int_eq(truncate(db, (off_t)(2 * ps + ps / 2)), 0);
	open_fails(err, sizeof err);
	assert_names_db(err);
	ck_assert_msg(strstr(err, "malformed") != NULL ||
	    strstr(err, "corrupt") != NULL, "'%s' does not say corrupt", err);
}
END_TEST

START_TEST(test_corrupt_page)
{
	char	err[8192], want[PATH_MAX + 64];
	size_t	ps;

	populate(300);
	assert_no_wal();
	ps = page_size();
	ck_assert_msg(file_size(db) > (off_t)(4 * ps), "only %lld bytes",
	    (long long)file_size(db));
	/* A page of the table's tree zeroed: only quick_check sees it. */
	overwrite((off_t)(3 * ps), 0, ps);
	open_fails(err, sizeof err);
	snprintf(want, sizeof want, "%s: the database is corrupt (", db);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s' does not "
	    "start with '%s'", err, want);
}
END_TEST

START_TEST(test_newer_schema)
{
	char	err[512], want[PATH_MAX + 64];

	sql_exec(db, "CREATE TABLE future (x); PRAGMA user_version = 99;");
	open_fails(err, sizeof err);
	snprintf(want, sizeof want, "%s: schema version 99 is newer than "
	    "this chatd's (2)", db);
	ck_assert_str_eq(err, want);
	/* Left as it was. */
	ck_assert_int_eq(sql_int(db, "PRAGMA user_version;"), 99);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM sqlite_master "
	    "WHERE name = 'bans';"), 0);
}
END_TEST

/* Read-only --------------------------------------------------------- */

/*
 * In a child: become nobody if root, check that db cannot be opened for
 * writing, then store_open().  The child writes its message to fd and
 * exits 0 if the open failed, 1 if it succeeded, 2 if the premise did not
 * hold (the message then says why).
 */
static void
read_only_child(int fd)
{
	struct passwd	*pw;
	struct store	*st;
	char		 err[512] = "";
	uid_t		 uid = 65534;
	gid_t		 gid = 65534;
	int		 wfd;

	if (geteuid() == 0) {
		if ((pw = getpwnam("nobody")) != NULL) {
			uid = pw->pw_uid;
			gid = pw->pw_gid;
		}
		if (setgroups(0, NULL) == -1 || setgid(gid) == -1 ||
		    setuid(uid) == -1) {
			dprintf(fd, "cannot become nobody: %s",
			    strerror(errno));
			_exit(2);
		}
	}
	if (access(db, R_OK) == -1) {
		dprintf(fd, "%s: %s (TMPDIR must be enterable by nobody)", db,
		    strerror(errno));
		_exit(2);
	}
	if ((wfd = open(db, O_RDWR)) != -1 || errno != EACCES) {
		dprintf(fd, "%s: open for writing: %s", db, wfd != -1 ?
		    "it opened" : strerror(errno));
		_exit(2);
	}
	st = store_open(db, err, sizeof err);
	dprintf(fd, "%s", err);
	if (st != NULL) {
		store_close(st);
		_exit(1);
	}
	_exit(0);
}

START_TEST(test_read_only)
{
	char		 out[1024];
	uint64_t	 digest;
	ssize_t		 n;
	size_t		 len = 0;
	off_t		 size;
	pid_t		 pid;
	int		 p[2], st;

	populate(3);
	assert_no_wal();
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(chmod(db, 0444), 0);
	size = file_size(db);
	digest = file_digest(db);

	ck_assert_int_eq(pipe(p), 0);
	fflush(NULL);
	if ((pid = fork()) == -1)
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		read_only_child(p[1]);
	}
	close(p[1]);
	while ((n = read(p[0], out + len, sizeof out - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "the child died: status %d", st);
	ck_assert_msg(WEXITSTATUS(st) != 2, "%s", out);
	ck_assert_msg(WEXITSTATUS(st) != 1, "a read-only %s opened", db);
	ck_assert_msg(WEXITSTATUS(st) == 0, "the child exited %d: %s",
	    WEXITSTATUS(st), out);

	assert_names_db(out);
	ck_assert_msg(strstr(out, "readonly") != NULL, "'%s' does not say "
	    "read-only", out);
	/*
	 * Not a byte written.  (Run by an ordinary user, who owns the
	 * directory, SQLite may leave an empty -wal and -shm beside the
	 * file: its own doing, and harmless.)
	 */
	ck_assert_int_eq(file_size(db), size);
	ck_assert(file_digest(db) == digest);
	ck_assert_int_eq(chmod(db, 0644), 0);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM bans;"), 3);
}
END_TEST

START_TEST(test_no_directory)
{
	char	err[512], want[PATH_MAX + 64];

	snprintf(db, sizeof db, "%s/missing/chatd.db", dir);
	open_fails(err, sizeof err);
	snprintf(want, sizeof want, "%s: unable to open database file", db);
	ck_assert_str_eq(err, want);
	/* Not made on the way. */
	snprintf(want, sizeof want, "%s/missing", dir);
	ck_assert_int_eq(access(want, F_OK), -1);
}
END_TEST

/* Accounts ------------------------------------------------------------ */

/* A real yescrypt hash (cost 1: fast), made once. */
static const char *
a_hash(void)
{
	static char	h[HASH_MAX];

	if (h[0] == '\0')
		ck_assert_int_eq(hash_make("correct horse", 1, h), 0);
	return (h);
}

static void
make_account(struct account *a, const char *name)
{
	memset(a, 0, sizeof *a);
	snprintf(a->name, sizeof a->name, "%s", name);
	snprintf(a->hash, sizeof a->hash, "%s", a_hash());
	a->created = NOW;
}

static const char *
key_of(const char *name, char *key)
{
	name_key(name, key);
	return (key);
}

#define FP_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

START_TEST(test_account_round_trip)
{
	struct store	*st = open_ok();
	struct account	 a, b, got;
	char		 key[NAME_LEN + 1];

	make_account(&a, "Alice");
	ck_assert_int_eq(store_account_get(st, key_of("alice", key), &got),
	    ACCTDB_NOTFOUND);
	ck_assert_int_eq(store_account_create(st, key_of("Alice", key), &a),
	    ACCTDB_OK);
	/* The same key: AL1CE is alice. */
	make_account(&b, "AL1CE");
	ck_assert_int_eq(store_account_create(st, key_of("AL1CE", key), &b),
	    ACCTDB_EXISTS);
	ck_assert_int_eq(store_account_get(st, key_of("a.lice", key), &got),
	    ACCTDB_OK);
	ck_assert_str_eq(got.name, "Alice");
	ck_assert_str_eq(got.hash, a_hash());
	ck_assert_int_eq(got.created, NOW);
	ck_assert_uint_eq(got.ncertfps, 0);
	store_close(st);

	/* Kept across a reopen, with a certificate added. */
	st = open_ok();
	ck_assert_int_eq(store_account_get(st, key_of("alice", key), &a),
	    ACCTDB_OK);
	b = a;
	memcpy(b.certfps[b.ncertfps++], FP_A, 65);
	ck_assert_int_eq(store_account_update(st, key, &a, &b), ACCTDB_OK);
	ck_assert_int_eq(store_account_by_certfp(st, FP_A, &got), ACCTDB_OK);
	ck_assert_str_eq(got.name, "Alice");
	ck_assert_uint_eq(got.ncertfps, 1);
	ck_assert_str_eq(got.certfps[0], FP_A);
	ck_assert_int_eq(store_account_by_certfp(st, FP_B, &got),
	    ACCTDB_NOTFOUND);
	/* An update from a stale read is refused. */
	ck_assert_int_eq(store_account_update(st, key, &a, &b),
	    ACCTDB_CHANGED);
	ck_assert_int_eq(store_account_delete(st, key, &a), ACCTDB_CHANGED);
	ck_assert_int_eq(store_account_get(st, key, &got), ACCTDB_OK);
	ck_assert_int_eq(store_account_delete(st, key, &got), ACCTDB_OK);
	ck_assert_int_eq(store_account_get(st, key, &got), ACCTDB_NOTFOUND);
	ck_assert_int_eq(store_account_by_certfp(st, FP_A, &got),
	    ACCTDB_NOTFOUND);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM certfps;"), 0);
	store_close(st);
}
END_TEST

/* A certificate logs in one account only. */
START_TEST(test_account_certfp_taken)
{
	struct store	*st = open_ok();
	struct account	 a, b, a2, b2;
	char		 ka[NAME_LEN + 1], kb[NAME_LEN + 1];

	make_account(&a, "alice");
	make_account(&b, "bob");
	ck_assert_int_eq(store_account_create(st, key_of("alice", ka), &a),
	    ACCTDB_OK);
	ck_assert_int_eq(store_account_create(st, key_of("bob", kb), &b),
	    ACCTDB_OK);
	ck_assert_int_eq(store_account_get(st, ka, &a), ACCTDB_OK);
	ck_assert_int_eq(store_account_get(st, kb, &b), ACCTDB_OK);
	a2 = a;
	memcpy(a2.certfps[a2.ncertfps++], FP_A, 65);
	ck_assert_int_eq(store_account_update(st, ka, &a, &a2), ACCTDB_OK);
	b2 = b;
	memcpy(b2.certfps[b2.ncertfps++], FP_A, 65);
	ck_assert_int_eq(store_account_update(st, kb, &b, &b2),
	    ACCTDB_EXISTS);
	/* Nothing of the refused update stayed. */
	ck_assert_int_eq(store_account_get(st, kb, &b2), ACCTDB_OK);
	ck_assert_uint_eq(b2.ncertfps, 0);
	ck_assert_int_eq(store_account_by_certfp(st, FP_A, &b2), ACCTDB_OK);
	ck_assert_str_eq(b2.name, "alice");
	store_close(st);
}
END_TEST

/* Rows planted behind chatd's back that it could not have written. */
START_TEST(test_account_bad_rows)
{
	static const char *const rows[] = {
		"INSERT INTO accounts VALUES ('alice', 'alice', "
		    "'$6$notyescrypt$x', 1);",
		"INSERT INTO accounts VALUES ('alice', 'al ice', 'HASH', 1);",
		"INSERT INTO accounts VALUES ('alice', 'alice', 'HASH', -5);",
		"INSERT INTO accounts VALUES ('alice', 'alice', 'HASH', 1);"
		    "INSERT INTO certfps VALUES ('XYZ', 'alice');",
	};
	struct store	*st;
	struct account	 got;
	char		 sql[512];
	const char	*p;
	size_t		 i, n;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		clear_dir();
		st = open_ok();
		store_close(st);
		/* HASH is a real hash. */
		n = 0;
		for (p = rows[i]; *p != '\0' && n + HASH_MAX < sizeof sql;
		    p++) {
			if (strncmp(p, "HASH", 4) == 0) {
				n += (size_t)snprintf(sql + n, sizeof sql - n,
				    "%s", a_hash());
				p += 3;
			} else
				sql[n++] = *p;
		}
		sql[n] = '\0';
		sql_exec(db, sql);
		st = open_ok();
		ck_assert_msg(store_account_get(st, "alice", &got) ==
		    ACCTDB_FAILED, "row %zu taken as an account", i);
		store_close(st);
	}
}
END_TEST

/* A version 1 database (bans only) comes up to 2 and keeps its bans. */
START_TEST(test_migrate_v1)
{
	struct store	*st;
	struct account	 a;
	char		 key[NAME_LEN + 1];

	sql_exec(db, "CREATE TABLE bans (pattern TEXT PRIMARY KEY, expires "
	    "INTEGER NOT NULL, created INTEGER NOT NULL, reason TEXT NOT NULL "
	    "DEFAULT ''); INSERT INTO bans VALUES ('mallory', 0, 1, 'old'); "
	    "PRAGMA user_version = 1;");
	st = open_ok();
	ck_assert_int_eq(load(st, NOW), 1);
	make_account(&a, "alice");
	ck_assert_int_eq(store_account_create(st, key_of("alice", key), &a),
	    ACCTDB_OK);
	store_close(st);
	ck_assert_int_eq(sql_int(db, "PRAGMA user_version;"), 2);
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM accounts;"), 1);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite	*s = suite_create("store");
	TCase	*tc;

	tc = tcase_create("bans");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_creates);
	tcase_add_test(tc, test_open_empty_file);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_del);
	tcase_add_test(tc, test_prune);
	tcase_add_test(tc, test_bad_rows_skipped);
	tcase_add_test(tc, test_negative_expiry_skipped);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_corrupt_header);
	tcase_add_test(tc, test_corrupt_truncated);
	tcase_add_test(tc, test_corrupt_page);
	tcase_add_test(tc, test_newer_schema);
	tcase_add_test(tc, test_read_only);
	tcase_add_test(tc, test_no_directory);
	suite_add_tcase(s, tc);

	tc = tcase_create("accounts");
	tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_account_round_trip);
	tcase_add_test(tc, test_account_certfp_taken);
	tcase_add_test(tc, test_account_bad_rows);
	tcase_add_test(tc, test_migrate_v1);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (run_suite(store_suite()));
}
