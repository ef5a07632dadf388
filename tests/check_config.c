/*
 * Unit tests for config.c: defaults, every key, the value syntaxes (bind
 * lists, sizes, booleans, modes, log levels, motd) and the errors, each of
 * which must read "FILE:LINE: message" with the right line and name the
 * key.  Files for config_load() and motd_file live in a directory made by
 * mkdtemp() in the runner process (an unchecked fixture), so it is removed
 * even when a test fails in its child.
 *
 * Every struct config is released with config_free(), on errors too, so
 * that the suite is clean under AddressSanitizer and valgrind.
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "chatd.h"
#include "run_suite.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define TEST_FILE	"test.conf"

#define TMPDIR_MAX	1024	/* the directory */
#define FILE_MAX	2048	/* a file in it */
#define TEXT_MAX	(FILE_MAX + 512)	/* a config naming one */

static char	tmpdir[TMPDIR_MAX];

static void
tmpdir_setup(void)
{
	const char	*base = getenv("TMPDIR");

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if ((size_t)snprintf(tmpdir, sizeof tmpdir, "%s/check_config.XXXXXX",
	    base) >= sizeof tmpdir || mkdtemp(tmpdir) == NULL) {
		perror(tmpdir);
		abort();
	}
}

static int
tmpdir_remove_one(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static void
tmpdir_teardown(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, tmpdir_remove_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

/* Writes len bytes of text to name in the temporary directory. */
static void
write_file(char *path, size_t pathlen, const char *name, const char *text,
    size_t len)
{
	FILE	*f;

	snprintf(path, pathlen, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* Parses text, which must succeed, into c (to be freed by the caller). */
static void
parse_ok(struct config *c, const char *text)
{
	char	err[512] = "";
	int	rc;

	config_defaults(c);
	rc = config_parse_buffer(c, TEST_FILE, text, err, sizeof err);
	if (rc != 0)
		config_free(c);
	ck_assert_msg(rc == 0, "parse of '%s' failed (%d): %s", text, rc, err);
}

/*
 * Parses text, which must fail with an error starting with prefix and
 * holding each of the (up to two) words.
 */
static void
parse_fails(const char *text, const char *prefix, const char *word,
    const char *word2)
{
	struct config	c;
	char		err[512] = "";
	int		rc;

	config_defaults(&c);
	rc = config_parse_buffer(&c, TEST_FILE, text, err, sizeof err);
	config_free(&c);
	ck_assert_msg(rc == -1, "'%s': want -1, got %d (%s)", text, rc, err);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
	    "'%s': error '%s' does not start with '%s'", text, err, prefix);
	ck_assert_msg(word == NULL || strstr(err, word) != NULL,
	    "'%s': error '%s' does not name '%s'", text, err, word);
	ck_assert_msg(word2 == NULL || strstr(err, word2) != NULL,
	    "'%s': error '%s' does not name '%s'", text, err, word2);
}

static uint16_t
addr_port(const struct config_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return (ntohs(((const struct sockaddr_in *)&a->ss)->sin_port));
	return (ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port));
}

static void
check_defaults(const struct config *c)
{
	ck_assert_uint_eq(c->port, 7777);
	ck_assert_uint_eq(c->naddrs, 2);
	ck_assert_str_eq(c->addrs[0].text, "0.0.0.0");
	ck_assert_int_eq(c->addrs[0].ss.ss_family, AF_INET);
	ck_assert_uint_eq(c->addrs[0].sslen, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(addr_port(&c->addrs[0]), 7777);
	ck_assert_str_eq(c->addrs[1].text, "::");
	ck_assert_int_eq(c->addrs[1].ss.ss_family, AF_INET6);
	ck_assert_uint_eq(c->addrs[1].sslen, sizeof(struct sockaddr_in6));
	ck_assert_uint_eq(addr_port(&c->addrs[1]), 7777);
	ck_assert_str_eq(c->name, "chatd");
	ck_assert_int_eq(c->mode, MODE_CHAT);
	ck_assert_ptr_null(c->user);
	ck_assert_ptr_null(c->group);
	ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(c->max_clients, 10000);
	ck_assert_uint_eq(c->max_per_address, 32);
	ck_assert_uint_eq(c->max_line, 4096);
	ck_assert_uint_eq(c->output_hard, 1024 * 1024);
	ck_assert_uint_eq(c->output_soft, 256 * 1024);
	ck_assert_uint_eq(c->output_soft_seconds, 10);
	ck_assert_uint_eq(c->rate_lines, 10);
	ck_assert_uint_eq(c->rate_burst, 50);
	ck_assert_uint_eq(c->idle_timeout, 0);
	ck_assert_uint_eq(c->keepalive, 60);
	ck_assert_uint_eq(c->shutdown_grace, 2);
	ck_assert_int_eq(c->announce, 1);
	ck_assert_int_eq(c->show_addresses, 0);
	ck_assert_ptr_null(c->motd);
	ck_assert_ptr_null(c->motd_file);
	ck_assert_uint_eq(c->history, 20);
}

START_TEST(test_defaults_empty)
{
	struct config	c;

	parse_ok(&c, "");
	check_defaults(&c);
	ck_assert_ptr_null(c.path);
	config_free(&c);
}
END_TEST

START_TEST(test_defaults_sections_and_comments)
{
	struct config	c;

	parse_ok(&c, "# a comment\n; another\n\n[server]\n\n[limits]\n"
	    "  # indented comment\n[chat]\n");
	check_defaults(&c);
	config_free(&c);
}
END_TEST

/* config_free() leaves a struct that can be freed again. */
START_TEST(test_free_twice)
{
	struct config	c;

	config_defaults(&c);
	config_free(&c);
	config_free(&c);
	ck_assert_ptr_null(c.name);
}
END_TEST

static const char all_keys[] =
    "[server]\n"
    "bind = 127.0.0.1, ::1\n"
    "port = 8080\n"
    "name = testchat\n"
    "mode = raw\n"
    "user = nobody\n"
    "group = nogroup\n"
    "log_level = debug\n"
    "\n"
    "[limits]\n"
    "max_clients = 100\n"
    "max_clients_per_address = 4\n"
    "max_line = 1K\n"
    "output_hard_limit = 2M\n"
    "output_soft_limit = 512K\n"
    "output_soft_seconds = 30\n"
    "rate_lines = 5\n"
    "rate_burst = 20\n"
    "idle_timeout = 300\n"
    "keepalive = 15\n"
    "shutdown_grace = 7\n"
    "\n"
    "[chat]\n"
    "announce = no\n"
    "show_addresses = yes\n"
    "motd = Hello there\n"
    "history = 50\n";

static void
check_all_keys(const struct config *c)
{
	ck_assert_uint_eq(c->naddrs, 2);
	ck_assert_str_eq(c->addrs[0].text, "127.0.0.1");
	ck_assert_int_eq(c->addrs[0].ss.ss_family, AF_INET);
	ck_assert_uint_eq(addr_port(&c->addrs[0]), 8080);
	ck_assert_str_eq(c->addrs[1].text, "::1");
	ck_assert_int_eq(c->addrs[1].ss.ss_family, AF_INET6);
	ck_assert_uint_eq(addr_port(&c->addrs[1]), 8080);
	ck_assert_uint_eq(c->port, 8080);
	ck_assert_str_eq(c->name, "testchat");
	ck_assert_int_eq(c->mode, MODE_RAW);
	ck_assert_str_eq(c->user, "nobody");
	ck_assert_str_eq(c->group, "nogroup");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
	ck_assert_uint_eq(c->max_clients, 100);
	ck_assert_uint_eq(c->max_per_address, 4);
	ck_assert_uint_eq(c->max_line, 1024);
	ck_assert_uint_eq(c->output_hard, 2 * 1024 * 1024);
	ck_assert_uint_eq(c->output_soft, 512 * 1024);
	ck_assert_uint_eq(c->output_soft_seconds, 30);
	ck_assert_uint_eq(c->rate_lines, 5);
	ck_assert_uint_eq(c->rate_burst, 20);
	ck_assert_uint_eq(c->idle_timeout, 300);
	ck_assert_uint_eq(c->keepalive, 15);
	ck_assert_uint_eq(c->shutdown_grace, 7);
	ck_assert_int_eq(c->announce, 0);
	ck_assert_int_eq(c->show_addresses, 1);
	ck_assert_str_eq(c->motd, "Hello there");
	ck_assert_ptr_null(c->motd_file);
	ck_assert_uint_eq(c->history, 50);
}

START_TEST(test_all_keys)
{
	struct config	c;

	parse_ok(&c, all_keys);
	check_all_keys(&c);
	ck_assert_ptr_null(c.path);
	config_free(&c);
}
END_TEST

/* The last value of a key wins; the port applies to every address. */
START_TEST(test_last_value_wins)
{
	struct config	c;

	parse_ok(&c, "[server]\nport = 1000\nbind = 10.0.0.1\nport = 2000\n"
	    "bind = ::1, 10.0.0.2\nname = a\nname = b\n");
	ck_assert_uint_eq(c.port, 2000);
	ck_assert_uint_eq(c.naddrs, 2);
	ck_assert_str_eq(c.addrs[0].text, "::1");
	ck_assert_str_eq(c.addrs[1].text, "10.0.0.2");
	ck_assert_uint_eq(addr_port(&c.addrs[0]), 2000);
	ck_assert_uint_eq(addr_port(&c.addrs[1]), 2000);
	ck_assert_str_eq(c.name, "b");
	config_free(&c);
}
END_TEST

/* Spaces around '=', a ':' separator and an inline comment. */
START_TEST(test_ini_syntax)
{
	struct config	c;

	parse_ok(&c, "[server]\n   port=9000   \nname: x y ; comment\n");
	ck_assert_uint_eq(c.port, 9000);
	ck_assert_str_eq(c.name, "x y");
	config_free(&c);
}
END_TEST

static const struct bind_case {
	const char	*value;
	size_t		 n;
	const char	*text[4];
} bind_cases[] = {
	{ "127.0.0.1", 1, { "127.0.0.1" } },
	{ "::1", 1, { "::1" } },
	{ "[::1]", 1, { "::1" } },
	{ "127.0.0.1 ::1", 2, { "127.0.0.1", "::1" } },
	{ "127.0.0.1,::1", 2, { "127.0.0.1", "::1" } },
	{ "127.0.0.1 , ::1,,  10.1.2.3", 3, { "127.0.0.1", "::1",
	    "10.1.2.3" } },
	{ ",127.0.0.1\t[::]  ,", 2, { "127.0.0.1", "::" } },
	{ "[fe80::1], [2001:DB8:0:0:0:0:0:1]", 2, { "fe80::1",
	    "2001:db8::1" } },
	{ "::ffff:10.0.0.1", 1, { "::ffff:10.0.0.1" } },
	/* Duplicates collapse, compared in canonical form. */
	{ "127.0.0.1, 127.0.0.1", 1, { "127.0.0.1" } },
	{ "::1 [::1] 0:0:0:0:0:0:0:1 127.0.0.1 ::1", 2, { "::1",
	    "127.0.0.1" } },
	{ "0.0.0.0 :: 0.0.0.0 [::]", 2, { "0.0.0.0", "::" } },
};

START_TEST(test_bind)
{
	const struct bind_case	*bc = &bind_cases[_i];
	struct config		 c;
	char			 text[256];
	size_t			 i;

	snprintf(text, sizeof text, "[server]\nbind = %s\nport = 4242\n",
	    bc->value);
	parse_ok(&c, text);
	ck_assert_msg(c.naddrs == bc->n, "bind = %s: %zu addresses, want %zu",
	    bc->value, c.naddrs, bc->n);
	for (i = 0; i < bc->n; i++) {
		ck_assert_str_eq(c.addrs[i].text, bc->text[i]);
		ck_assert_int_eq(c.addrs[i].ss.ss_family,
		    strchr(bc->text[i], ':') != NULL ? AF_INET6 : AF_INET);
		ck_assert_uint_eq(c.addrs[i].sslen,
		    c.addrs[i].ss.ss_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		ck_assert_uint_eq(addr_port(&c.addrs[i]), 4242);
	}
	config_free(&c);
}
END_TEST

static const struct size_case {
	const char	*key;
	const char	*value;
	size_t		 want;
} size_cases[] = {
	{ "max_line", "64", 64 },
	{ "max_line", "1K", 1024 },
	{ "max_line", "1k", 1024 },
	{ "max_line", "100k", 102400 },
	{ "max_line", "1M", 1024 * 1024 },
	{ "max_line", "1m", 1024 * 1024 },
	{ "max_line", "1048576", 1024 * 1024 },
	{ "output_hard_limit", "0", 0 },
	{ "output_hard_limit", "4096M", (size_t)1 << 32 },
	{ "output_hard_limit", "3M", 3 * 1024 * 1024 },
	{ "output_soft_limit", "0", 0 },
	{ "output_soft_limit", "1K", 1024 },
};

START_TEST(test_sizes)
{
	const struct size_case	*sc = &size_cases[_i];
	struct config		 c;
	char			 text[256];
	size_t			 got;

	/* No hard limit, so that any soft limit is valid. */
	snprintf(text, sizeof text, "[limits]\noutput_hard_limit = 0\n"
	    "%s = %s\n", sc->key, sc->value);
	parse_ok(&c, text);
	if (strcmp(sc->key, "max_line") == 0)
		got = c.max_line;
	else if (strcmp(sc->key, "output_hard_limit") == 0)
		got = c.output_hard;
	else
		got = c.output_soft;
	ck_assert_msg(got == sc->want, "%s = %s: got %zu, want %zu",
	    sc->key, sc->value, got, sc->want);
	config_free(&c);
}
END_TEST

static const struct bool_case {
	const char	*value;
	int		 want;
} bool_cases[] = {
	{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 },
	{ "on", 1 }, { "off", 0 }, { "1", 1 }, { "0", 0 },
	{ "YES", 1 }, { "No", 0 }, { "True", 1 }, { "OFF", 0 },
};

START_TEST(test_booleans)
{
	const struct bool_case	*bc = &bool_cases[_i];
	struct config		 c;
	char			 text[256];

	snprintf(text, sizeof text, "[chat]\nannounce = %s\n"
	    "show_addresses = %s\n", bc->value, bc->value);
	parse_ok(&c, text);
	ck_assert_msg(c.announce == bc->want, "announce = %s", bc->value);
	ck_assert_msg(c.show_addresses == bc->want, "show_addresses = %s",
	    bc->value);
	config_free(&c);
}
END_TEST

START_TEST(test_modes)
{
	struct config	c;

	parse_ok(&c, "[server]\nmode = raw\n");
	ck_assert_int_eq(c.mode, MODE_RAW);
	config_free(&c);
	parse_ok(&c, "[server]\nmode = chat\n");
	ck_assert_int_eq(c.mode, MODE_CHAT);
	config_free(&c);
	parse_ok(&c, "[server]\nmode = RAW\n");
	ck_assert_int_eq(c.mode, MODE_RAW);
	config_free(&c);
}
END_TEST

START_TEST(test_log_levels)
{
	static const struct {
		const char	*name;
		int		 level;
	} levels[] = {
		{ "error", LOG_LEVEL_ERROR },
		{ "warning", LOG_LEVEL_WARNING },
		{ "notice", LOG_LEVEL_NOTICE },
		{ "info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG },
		{ "DEBUG", LOG_LEVEL_DEBUG },
		{ "Warning", LOG_LEVEL_WARNING },
	};
	struct config	c;
	char		text[128];
	size_t		i;

	for (i = 0; i < nitems(levels); i++) {
		snprintf(text, sizeof text, "[server]\nlog_level = %s\n",
		    levels[i].name);
		parse_ok(&c, text);
		ck_assert_msg(c.log_level == levels[i].level,
		    "log_level = %s: got %d", levels[i].name, c.log_level);
		config_free(&c);
	}
}
END_TEST

START_TEST(test_range_bounds)
{
	struct config	c;

	parse_ok(&c, "[server]\nport = 1\n[limits]\nmax_line = 64\n"
	    "rate_lines = 0\nrate_burst = 1\nmax_clients = 0\n");
	ck_assert_uint_eq(c.port, 1);
	ck_assert_uint_eq(c.max_line, 64);
	ck_assert_uint_eq(c.rate_lines, 0);
	ck_assert_uint_eq(c.rate_burst, 1);
	ck_assert_uint_eq(c.max_clients, 0);
	config_free(&c);

	parse_ok(&c, "[server]\nport = 65535\n[limits]\n"
	    "rate_lines = 1000000\nrate_burst = 1000000\n"
	    "shutdown_grace = 600\n[chat]\nhistory = 100000\n");
	ck_assert_uint_eq(c.port, 65535);
	ck_assert_uint_eq(c.rate_lines, 1000000);
	ck_assert_uint_eq(c.rate_burst, 1000000);
	ck_assert_uint_eq(c.shutdown_grace, 600);
	ck_assert_uint_eq(c.history, 100000);
	config_free(&c);
}
END_TEST

/* Soft equal to hard, or no hard limit at all, is valid. */
START_TEST(test_output_limits_valid)
{
	struct config	c;

	parse_ok(&c, "[limits]\noutput_hard_limit = 1M\n"
	    "output_soft_limit = 1M\n");
	ck_assert_uint_eq(c.output_soft, c.output_hard);
	config_free(&c);
	parse_ok(&c, "[limits]\noutput_hard_limit = 0\n"
	    "output_soft_limit = 4096M\n");
	ck_assert_uint_eq(c.output_hard, 0);
	ck_assert_uint_eq(c.output_soft, (size_t)1 << 32);
	config_free(&c);
}
END_TEST

START_TEST(test_motd_one_line)
{
	struct config	c;

	parse_ok(&c, "[chat]\nmotd = Welcome, be nice.\n");
	ck_assert_str_eq(c.motd, "Welcome, be nice.");
	config_free(&c);
}
END_TEST

/* Indented lines continue the motd; the next key ends it. */
START_TEST(test_motd_multi_line)
{
	struct config	c;

	parse_ok(&c, "[chat]\n"
	    "motd = Welcome to chatd.\n"
	    "  Be nice.\n"
	    "\tNo flooding, please.\n"
	    "history = 5\n"
	    "[server]\n"
	    "port = 7000\n");
	ck_assert_str_eq(c.motd, "Welcome to chatd.\nBe nice.\n"
	    "No flooding, please.");
	ck_assert_uint_eq(c.history, 5);
	ck_assert_uint_eq(c.port, 7000);
	config_free(&c);
}
END_TEST

START_TEST(test_motd_file)
{
	struct config	c;
	char		path[FILE_MAX], text[TEXT_MAX];

	write_file(path, sizeof path, "motd.txt", "Hello\nWorld\r\n\n", 14);
	snprintf(text, sizeof text, "[chat]\nmotd_file = %s\n", path);
	parse_ok(&c, text);
	/* Trailing line ends are dropped, inner ones kept. */
	ck_assert_str_eq(c.motd, "Hello\nWorld");
	ck_assert_str_eq(c.motd_file, path);
	config_free(&c);

	/* An empty file is an empty motd. */
	write_file(path, sizeof path, "empty.txt", "", 0);
	snprintf(text, sizeof text, "[chat]\nmotd_file = %s\n", path);
	parse_ok(&c, text);
	ck_assert_str_eq(c.motd, "");
	config_free(&c);
}
END_TEST

START_TEST(test_motd_file_size)
{
	struct config	 c;
	char		 path[FILE_MAX], text[TEXT_MAX];
	char		*big;
	size_t		 max = 64 * 1024;

	big = malloc(max + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'm', max + 1);

	write_file(path, sizeof path, "max.txt", big, max);
	snprintf(text, sizeof text, "[chat]\nmotd_file = %s\n", path);
	parse_ok(&c, text);
	ck_assert_uint_eq(strlen(c.motd), max);
	config_free(&c);

	write_file(path, sizeof path, "toobig.txt", big, max + 1);
	snprintf(text, sizeof text, "[chat]\nmotd_file = %s\n", path);
	parse_fails(text, TEST_FILE ":2: ", "motd_file", path);
	free(big);
}
END_TEST

START_TEST(test_motd_file_missing)
{
	char	path[FILE_MAX], text[TEXT_MAX];

	snprintf(path, sizeof path, "%s/no-such-motd.txt", tmpdir);
	snprintf(text, sizeof text, "[chat]\nhistory = 3\n\nmotd_file = %s\n",
	    path);
	parse_fails(text, TEST_FILE ":4: ", path, strerror(ENOENT));
	parse_fails(text, TEST_FILE ":4: ", "motd_file", NULL);
}
END_TEST

/* Each must fail with prefix and name word. */
static const struct error_case {
	const char	*text;
	const char	*prefix;
	const char	*word;
} error_cases[] = {
	/* Sections and keys; a bad section is blamed on its header. */
	{ "[bogus]\nkey = 1\n", TEST_FILE ":1: ", "[bogus]" },
	{ "[server]\nport = 1\n\n[bogus]\nkey = 1\n", TEST_FILE ":4: ",
	    "bogus" },
	{ "[server]\nport = 1\n[bogus]\n", TEST_FILE ":3: ", "bogus" },
	{ "port = 1\n", TEST_FILE ":1: ", "section" },
	{ "[server]\n# comment\nportt = 1\n", TEST_FILE ":3: ", "portt" },
	{ "[limits]\nport = 1\n", TEST_FILE ":2: ", "'port'" },
	{ "[Server]\nport = 1\n", TEST_FILE ":1: ", "Server" },

	/* Syntax. */
	{ "[server]\nport 7777\n", TEST_FILE ":2: ", "syntax" },
	{ "[server\n", TEST_FILE ":1: ", "syntax" },
	{ "[server]\nport = 1\nport\n", TEST_FILE ":3: ", "syntax" },

	/* port */
	{ "[server]\nport = 0\n", TEST_FILE ":2: ", "port" },
	{ "[server]\n\nport = 65536\n", TEST_FILE ":3: ", "port" },
	{ "[server]\nport = abc\n", TEST_FILE ":2: ", "port" },
	{ "[server]\nport =\n", TEST_FILE ":2: ", "port" },
	{ "[server]\nport = -1\n", TEST_FILE ":2: ", "port" },
	{ "[server]\nport = 7777x\n", TEST_FILE ":2: ", "port" },
	{ "[server]\nport = 0x10\n", TEST_FILE ":2: ", "port" },
	{ "[server]\nport = 1K\n", TEST_FILE ":2: ", "port" },
	{ "[server]\nport = 99999999999999999999999\n", TEST_FILE ":2: ",
	    "port" },

	/* bind */
	{ "[server]\nport = 8080\nbind = localhost\n", TEST_FILE ":3: ",
	    "bind" },
	{ "[server]\nbind = localhost\n", TEST_FILE ":2: ", "localhost" },
	{ "[server]\nbind = 127.0.0.1 bogus\n", TEST_FILE ":2: ", "bogus" },
	{ "[server]\nbind = 1.2.3.4:80\n", TEST_FILE ":2: ", "bind" },
	{ "[server]\nbind = 256.0.0.1\n", TEST_FILE ":2: ", "bind" },
	{ "[server]\nbind = [1.2.3.4\n", TEST_FILE ":2: ", "bind" },
	{ "[server]\nbind = ::1]\n", TEST_FILE ":2: ", "bind" },
	{ "[server]\nbind = []\n", TEST_FILE ":2: ", "bind" },
	{ "[server]\nbind = fe80::1%lo\n", TEST_FILE ":2: ", "bind" },
	{ "[server]\nbind =\n", TEST_FILE ":2: ", "bind" },
	{ "[server]\nbind = , ,\n", TEST_FILE ":2: ", "bind" },

	/* Sizes and numbers. */
	{ "[limits]\nmax_line = 63\n", TEST_FILE ":2: ", "max_line" },
	{ "[limits]\nmax_line = 0\n", TEST_FILE ":2: ", "max_line" },
	{ "[limits]\nmax_line = 2M\n", TEST_FILE ":2: ", "max_line" },
	{ "[limits]\nmax_line = 1G\n", TEST_FILE ":2: ", "max_line" },
	{ "[limits]\nmax_line = 1KB\n", TEST_FILE ":2: ", "max_line" },
	{ "[limits]\nmax_line = K\n", TEST_FILE ":2: ", "max_line" },
	{ "[limits]\nmax_line = 1.5K\n", TEST_FILE ":2: ", "max_line" },
	{ "[limits]\noutput_hard_limit = 4097M\n", TEST_FILE ":2: ",
	    "output_hard_limit" },
	{ "[limits]\nmax_clients = 10000001\n", TEST_FILE ":2: ",
	    "max_clients" },
	{ "[limits]\nrate_burst = 0\n", TEST_FILE ":2: ", "rate_burst" },
	{ "[limits]\noutput_soft_seconds = 0\n", TEST_FILE ":2: ",
	    "output_soft_seconds" },
	{ "[limits]\nkeepalive = 1K\n", TEST_FILE ":2: ", "keepalive" },
	{ "[chat]\nhistory = 100001\n", TEST_FILE ":2: ", "history" },

	/* Booleans. */
	{ "[chat]\nannounce = maybe\n", TEST_FILE ":2: ", "announce" },
	{ "[chat]\nshow_addresses = 2\n", TEST_FILE ":2: ",
	    "show_addresses" },
	{ "[chat]\nannounce =\n", TEST_FILE ":2: ", "announce" },
	{ "[chat]\nannounce = yess\n", TEST_FILE ":2: ", "announce" },

	/* Strings, mode, log_level. */
	{ "[server]\nmode = irc\n", TEST_FILE ":2: ", "mode" },
	{ "[server]\nlog_level = verbose\n", TEST_FILE ":2: ", "log_level" },
	{ "[server]\nname =\n", TEST_FILE ":2: ", "name" },
	{ "[server]\nname = "
	    "12345678901234567890123456789012345678901234567890123456789012345"
	    "\n", TEST_FILE ":2: ", "name" },

	/* Accounts must exist (checked before any socket is opened). */
	{ "[server]\nport = 1\nuser = no-such-chatd-user\n", TEST_FILE ":3: ",
	    "no such user" },
	{ "[server]\ngroup = no-such-chatd-group\nuser = nobody\n",
	    TEST_FILE ":2: ", "no such group" },

	/* The first error is reported. */
	{ "[server]\nport = 0\nport = abc\n[bogus]\nx = 1\n",
	    TEST_FILE ":2: ", "0 is out of range" },
	{ "[server]\nport = 1\n[chat]\nannounce = maybe\nhistory = x\n",
	    TEST_FILE ":4: ", "maybe" },
};

START_TEST(test_errors)
{
	const struct error_case	*ec = &error_cases[_i];

	parse_fails(ec->text, ec->prefix, ec->word, NULL);
}
END_TEST

/* A 65-character name just over the limit; 64 is accepted. */
START_TEST(test_name_length)
{
	struct config	c;

	parse_ok(&c, "[server]\nname = "
	    "1234567890123456789012345678901234567890123456789012345678901234"
	    "\n");
	ck_assert_uint_eq(strlen(c.name), 64);
	config_free(&c);
}
END_TEST

/* The cross-key check has no line of its own. */
START_TEST(test_soft_above_hard)
{
	static const char	*texts[] = {
		"[limits]\noutput_hard_limit = 1K\noutput_soft_limit = 2K\n",
		"[limits]\noutput_soft_limit = 2K\noutput_hard_limit = 1K\n",
		/* The default soft limit (256K) above a small hard one. */
		"[limits]\noutput_hard_limit = 128K\n",
	};
	size_t			 i;

	for (i = 0; i < nitems(texts); i++) {
		parse_fails(texts[i], TEST_FILE ": ", "output_soft_limit",
		    "output_hard_limit");
	}
}
END_TEST

/* A short error buffer is truncated, never overrun. */
START_TEST(test_error_truncated)
{
	struct config	c;
	char		err[12];

	memset(err, 'X', sizeof err);
	config_defaults(&c);
	ck_assert_int_eq(config_parse_buffer(&c, TEST_FILE,
	    "[server]\nport = 0\n", err, sizeof err), -1);
	config_free(&c);
	ck_assert_uint_eq(strlen(err), sizeof err - 1);
	ck_assert_str_eq(err, "test.conf:2");
}
END_TEST

START_TEST(test_load_file)
{
	struct config	c;
	char		path[FILE_MAX], err[512] = "";

	write_file(path, sizeof path, "chatd.conf", all_keys,
	    sizeof all_keys - 1);
	config_defaults(&c);
	ck_assert_msg(config_load(&c, path, 1, err, sizeof err) == 0,
	    "config_load: %s", err);
	check_all_keys(&c);
	ck_assert_str_eq(c.path, path);
	config_free(&c);
}
END_TEST

/*
 * Writes text to name in the temporary directory and loads it, which must
 * fail with an error that starts with the file's path and then where
 * (":LINE: ", or ": " for an error of no one line) and names word.
 */
static void
load_fails(const char *name, const char *text, const char *where,
    const char *word)
{
	struct config	c;
	char		path[FILE_MAX], want[FILE_MAX + 8], err[TEXT_MAX];

	write_file(path, sizeof path, name, text, strlen(text));
	config_defaults(&c);
	ck_assert_int_eq(config_load(&c, path, 1, err, sizeof err), -1);
	config_free(&c);
	snprintf(want, sizeof want, "%s%s", path, where);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
	    "error '%s' does not start with '%s'", err, want);
	ck_assert_ptr_nonnull(strstr(err, word));
}

START_TEST(test_load_file_error)
{
	load_fails("bad.conf", "[server]\nport = 1\n\n[limits]\nmax_line = 1\n",
	    ":5: ", "max_line");

	/* The cross-key check names the file alone. */
	load_fails("bad2.conf", "[limits]\noutput_hard_limit = 1K\n", ": ",
	    "output_soft_limit");
}
END_TEST

START_TEST(test_load_missing_required)
{
	struct config	c;
	char		path[FILE_MAX], want[FILE_MAX + 64], err[TEXT_MAX];

	snprintf(path, sizeof path, "%s/missing.conf", tmpdir);
	snprintf(want, sizeof want, "%s: %s", path, strerror(ENOENT));
	config_defaults(&c);
	ck_assert_int_eq(config_load(&c, path, 1, err, sizeof err), -1);
	config_free(&c);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_load_missing_optional)
{
	struct config	c;
	char		path[FILE_MAX], err[512] = "";

	snprintf(path, sizeof path, "%s/missing.conf", tmpdir);
	config_defaults(&c);
	ck_assert_int_eq(config_load(&c, path, 0, err, sizeof err), 1);
	check_defaults(&c);
	config_free(&c);
}
END_TEST

/* Reading one file after another into fresh structs leaks nothing. */
START_TEST(test_load_twice)
{
	struct config	c;
	char		path[FILE_MAX], motd[FILE_MAX], text[TEXT_MAX];
	char		err[512] = "";
	int		i;

	write_file(motd, sizeof motd, "m.txt", "hi\n", 3);
	snprintf(text, sizeof text, "[chat]\nmotd = first\nmotd_file = %s\n"
	    "[server]\nbind = ::1\nbind = 127.0.0.1\nname = x\nuser = root\n"
	    "user = nobody\ngroup = nogroup\n", motd);
	write_file(path, sizeof path, "twice.conf", text, strlen(text));
	for (i = 0; i < 2; i++) {
		config_defaults(&c);
		ck_assert_msg(config_load(&c, path, 1, err, sizeof err) == 0,
		    "%s", err);
		ck_assert_str_eq(c.motd, "hi");
		ck_assert_str_eq(c.user, "nobody");
		ck_assert_uint_eq(c.naddrs, 1);
		config_free(&c);
	}
}
END_TEST

/*
 * Regressions: bugs found in config.c by these tests, now fixed (errors
 * were blamed on the wrong line, size suffixes overflowed, long lines were
 * split, a directory was read as an empty config).
 */

/* A syntax error reported with the text of a later line's error. */
START_TEST(test_regression_syntax_then_key_error)
{
	parse_fails("[server]\nport 7777\nport = 0\n", TEST_FILE ":2: ",
	    "syntax", NULL);
	/* The keys after a broken section header are in section "". */
	parse_fails("[server\nport = 1\n", TEST_FILE ":1: ", "syntax", NULL);
}
END_TEST

/* A K or M suffix that overflows wraps around instead of failing. */
START_TEST(test_regression_size_overflow)
{
	/* (2^44 + 1) * 2^20 wraps to 2^20. */
	parse_fails("[limits]\noutput_hard_limit = 17592186044417M\n",
	    TEST_FILE ":2: ", "output_hard_limit", NULL);
	/* (2^54 + 1) * 2^10 wraps to 1024. */
	parse_fails("[limits]\noutput_hard_limit = 0\n"
	    "max_line = 18014398509481985K\n", TEST_FILE ":3: ", "max_line",
	    NULL);
}
END_TEST

/*
 * A line over inih's 199 bytes was cut and its tail read as a new line:
 * now it is refused, with the line named.
 */
START_TEST(test_regression_long_line)
{
	struct config	c;
	char		text[512], err[512] = "";
	unsigned	history;
	int		rc;

	snprintf(text, sizeof text, "[chat]\nmotd = %0192d%s\n", 0,
	    "history = 5");
	config_defaults(&c);
	rc = config_parse_buffer(&c, TEST_FILE, text, err, sizeof err);
	history = c.history;
	config_free(&c);
	ck_assert_msg(history != 5, "the tail of a long motd line set "
	    "history = 5");
	ck_assert_int_eq(rc, -1);
	ck_assert_str_eq(err, TEST_FILE ":2: line longer than 199 bytes");
}
END_TEST

/* A directory given as the config file reads as an empty file. */
START_TEST(test_regression_load_directory)
{
	struct config	c;
	char		err[TEXT_MAX] = "";
	int		rc;

	config_defaults(&c);
	rc = config_load(&c, tmpdir, 1, err, sizeof err);
	config_free(&c);
	ck_assert_msg(rc == -1, "a directory was accepted as a config file");
	ck_assert_msg(strncmp(err, tmpdir, strlen(tmpdir)) == 0, "%s", err);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("config");

	tc = tcase_create("defaults");
	tcase_add_test(tc, test_defaults_empty);
	tcase_add_test(tc, test_defaults_sections_and_comments);
	tcase_add_test(tc, test_free_twice);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_test(tc, test_all_keys);
	tcase_add_test(tc, test_last_value_wins);
	tcase_add_test(tc, test_ini_syntax);
	tcase_add_loop_test(tc, test_bind, 0, nitems(bind_cases));
	tcase_add_loop_test(tc, test_sizes, 0, nitems(size_cases));
	tcase_add_loop_test(tc, test_booleans, 0, nitems(bool_cases));
	tcase_add_test(tc, test_modes);
	tcase_add_test(tc, test_log_levels);
	tcase_add_test(tc, test_range_bounds);
	tcase_add_test(tc, test_output_limits_valid);
	tcase_add_test(tc, test_name_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("motd");
	tcase_add_unchecked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(tc, test_motd_one_line);
	tcase_add_test(tc, test_motd_multi_line);
	tcase_add_test(tc, test_motd_file);
	tcase_add_test(tc, test_motd_file_size);
	tcase_add_test(tc, test_motd_file_missing);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_errors, 0, nitems(error_cases));
	tcase_add_test(tc, test_soft_above_hard);
	tcase_add_test(tc, test_error_truncated);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_unchecked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_load_file_error);
	tcase_add_test(tc, test_load_missing_required);
	tcase_add_test(tc, test_load_missing_optional);
	tcase_add_test(tc, test_load_twice);
	suite_add_tcase(s, tc);

	tc = tcase_create("regressions");
	tcase_add_unchecked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(tc, test_regression_syntax_then_key_error);
	tcase_add_test(tc, test_regression_size_overflow);
	tcase_add_test(tc, test_regression_long_line);
	tcase_add_test(tc, test_regression_load_directory);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return run_suite(config_suite());
}
