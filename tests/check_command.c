/*
 * Unit tests for the grammar of what a chat client types (command.c):
 * chat against commands, the "//" escape, verbs without regard to case,
 * arguments without their outer spaces, the first word of the arguments,
 * /join's arguments, the page number of /who and /rooms, and the command
 * table that /help and the usage notices read.
 *
 * command_parse() works in place on a line it may shorten, so each test
 * parses a writable copy and checks that every pointer it returns lies
 * within that copy; the lines are the sanitised form chat.c passes
 * (NUL-terminated at len), except where a test says otherwise.
 */

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "chatd.h"
#include "run_suite.h"

static char		line[256];
static struct command	cmd;

/* Parses a copy of s into cmd; the copy is `line`. */
static void
parse(const char *s)
{
	size_t	len = strlen(s);

	ck_assert_uint_lt(len, sizeof line);
	memcpy(line, s, len + 1);
	/* Bytes past the line must not be read as part of it. */
	memset(line + len + 1, 'Z', sizeof line - len - 1);
	command_parse(line, len, &cmd);
}

static int
within(const char *p)
{
	return (p >= line && p <= line + strlen(line));
}

/* cmd is chat saying want, and its text lies in line. */
static void
check_chat(const char *want)
{
	ck_assert_int_eq(cmd.id, CMD_CHAT);
	ck_assert_ptr_nonnull(cmd.text);
	ck_assert(within(cmd.text));
	ck_assert_uint_eq(cmd.len, strlen(want));
	ck_assert(memcmp(cmd.text, want, cmd.len) == 0);
	ck_assert_ptr_null(cmd.verb);
	ck_assert_ptr_null(cmd.args);
}

/* cmd is command id, typed as verb, with args. */
static void
check_command(enum command_id id, const char *verb, const char *args)
{
	ck_assert_int_eq(cmd.id, id);
	ck_assert_ptr_null(cmd.text);
	ck_assert_ptr_eq(cmd.verb, line + 1);
	ck_assert_uint_eq(cmd.verb_len, strlen(verb));
	ck_assert(memcmp(cmd.verb, verb, cmd.verb_len) == 0);
	ck_assert_ptr_nonnull(cmd.args);
	ck_assert(within(cmd.args));
	ck_assert_str_eq(cmd.args, args);
}

START_TEST(test_chat)
{
	parse("hello");
	check_chat("hello");
	ck_assert_ptr_eq(cmd.text, line);
	parse("hello /who");
	check_chat("hello /who");
	/* A space before the slash: chat, as the sanitiser leaves it. */
	parse(" /quit");
	check_chat(" /quit");
	ck_assert_ptr_eq(cmd.text, line);
	/* Trailing spaces of chat are the speaker's. */
	parse("see you ");
	check_chat("see you ");
	parse("");
	check_chat("");
	ck_assert_ptr_eq(cmd.text, line);
	parse("\\/help");
	check_chat("\\/help");
}
END_TEST

START_TEST(test_escape)
{
	parse("//help");
	check_chat("/help");
	ck_assert_ptr_eq(cmd.text, line + 1);
	parse("//");
	check_chat("/");
	parse("///");
	check_chat("//");
	parse("// ");
	check_chat("/ ");
	parse("//me waves ");
	check_chat("/me waves ");
}
END_TEST

START_TEST(test_slash_alone)
{
	parse("/");
	check_command(CMD_UNKNOWN, "", "");
	parse("/ ");
	check_command(CMD_UNKNOWN, "", "");
	ck_assert_str_eq(line, "/");
	parse("/   ");
	check_command(CMD_UNKNOWN, "", "");
	/* No verb, then a word: unknown, the word is an argument. */
	parse("/ help");
	check_command(CMD_UNKNOWN, "", "help");
}
END_TEST

START_TEST(test_unknown)
{
	parse("/Foo bar");
	check_command(CMD_UNKNOWN, "Foo", "bar");
	parse("/helpme");
	check_command(CMD_UNKNOWN, "helpme", "");
	parse("/he");
	check_command(CMD_UNKNOWN, "he", "");
	parse("/whom 2");
	check_command(CMD_UNKNOWN, "whom", "2");
	parse("/m");
	check_command(CMD_UNKNOWN, "m", "");
	parse("/h\xc3\xa9lp x");
	check_command(CMD_UNKNOWN, "h\xc3\xa9lp", "x");
	parse("/nick_ bob");
	check_command(CMD_UNKNOWN, "nick_", "bob");
}
END_TEST

START_TEST(test_verbs)
{
	parse("/help");
	check_command(CMD_HELP, "help", "");
	parse("/HELP");
	check_command(CMD_HELP, "HELP", "");
	parse("/Who 2");
	check_command(CMD_WHO, "Who", "2");
	parse("/nIcK bob");
	check_command(CMD_NICK, "nIcK", "bob");
	parse("/ME waves");
	check_command(CMD_ME, "ME", "waves");
	parse("/MSG alice hi there");
	check_command(CMD_MSG, "MSG", "alice hi there");
	parse("/QuIt bye");
	check_command(CMD_QUIT, "QuIt", "bye");
	parse("/quit");
	check_command(CMD_QUIT, "quit", "");
}
END_TEST

START_TEST(test_trimming)
{
	parse("/nick bob ");
	check_command(CMD_NICK, "nick", "bob");
	/* The line itself is cut where the spaces began. */
	ck_assert_str_eq(line, "/nick bob");
	ck_assert_int_eq(line[9], '\0');
	ck_assert_int_eq(line[10], '\0');

	/* Not sanitised: runs of spaces (the sanitiser squeezes them). */
	parse("/nick   bob   ");
	check_command(CMD_NICK, "nick", "bob");
	parse("/msg  bob  hi  there  ");
	check_command(CMD_MSG, "msg", "bob  hi  there");
	parse("/quit    ");
	check_command(CMD_QUIT, "quit", "");
	parse("/me  ");
	check_command(CMD_ME, "me", "");
	/* Only spaces are cut. */
	parse("/me waves.");
	check_command(CMD_ME, "me", "waves.");
}
END_TEST

/* The first word of args, and what is left; asserts the return value. */
static void
word(const char **args, int ret, const char *want, const char *rest)
{
	const char	*w = NULL;
	size_t		 len = 99;

	ck_assert_int_eq(command_word(args, &w, &len), ret);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert(strncmp(w, want, len) == 0);
	ck_assert_str_eq(*args, rest);
}

START_TEST(test_word)
{
	const char	*args;

	args = "";
	word(&args, 0, "", "");
	args = "   ";
	word(&args, 0, "", "");
	args = "a";
	word(&args, 1, "a", "");
	word(&args, 0, "", "");

	args = "a b  c";
	word(&args, 1, "a", "b  c");
	word(&args, 1, "b", "c");
	word(&args, 1, "c", "");
	word(&args, 0, "", "");

	args = "  alice  hello there";
	word(&args, 1, "alice", "hello there");
	args = "bob";
	word(&args, 1, "bob", "");
}
END_TEST

/* /join's arguments: ok, and then the room's word and secret. */
static void
join(const char *args, int ok, const char *room, int secret)
{
	const char	*name = NULL;
	size_t		 len = 99;
	int		 sec = 99;

	ck_assert_msg(command_join(args, &name, &len, &sec) == ok,
	    "command_join('%s') is not %d", args, ok);
	if (!ok)
		return;
	ck_assert_ptr_nonnull(name);
	ck_assert(name >= args && name + len <= args + strlen(args));
	ck_assert_uint_eq(len, strlen(room));
	ck_assert(strncmp(name, room, len) == 0);
	ck_assert_int_eq(sec, secret);
}

START_TEST(test_join)
{
	join("#dev", 1, "#dev", 0);
	join("#dev secret", 1, "#dev", 1);
	join("#dev SeCrEt", 1, "#dev", 1);
	join("  #dev   secret", 1, "#dev", 1);
	/* The word is the grammar's; the room rule is room_valid()'s. */
	join("dev", 1, "dev", 0);
	join("#a!b secret", 1, "#a!b", 1);
	join("secret", 1, "secret", 0);
	join("", 0, "", 0);
	join("   ", 0, "", 0);
	join("#dev secrets", 0, "", 0);
	join("#dev secret secret", 0, "", 0);
	join("#dev public", 0, "", 0);
	join("#dev #ops", 0, "", 0);
}
END_TEST

START_TEST(test_page)
{
	char	buf[64];

	ck_assert_uint_eq(command_page("", 10), 1);
	ck_assert_uint_eq(command_page("1", 10), 1);
	ck_assert_uint_eq(command_page("0", 10), 0);
	ck_assert_uint_eq(command_page("00", 10), 0);
	ck_assert_uint_eq(command_page("007", 10), 7);
	ck_assert_uint_eq(command_page("12x", 100), 0);
	ck_assert_uint_eq(command_page("x", 10), 0);
	ck_assert_uint_eq(command_page("-1", 10), 0);
	ck_assert_uint_eq(command_page("+1", 10), 0);
	ck_assert_uint_eq(command_page(" 1", 10), 0);
	ck_assert_uint_eq(command_page("1 ", 10), 0);
	ck_assert_uint_eq(command_page("1 2", 100), 0);
	ck_assert_uint_eq(command_page("0x10", 100), 0);

	/* At and over the max. */
	ck_assert_uint_eq(command_page("10", 10), 10);
	ck_assert_uint_eq(command_page("11", 10), 0);
	ck_assert_uint_eq(command_page("100", 10), 0);
	ck_assert_uint_eq(command_page("1", 1), 1);
	ck_assert_uint_eq(command_page("2", 1), 0);

	/* chat.c's max: pages of who_max (1 to 100000) entries. */
	snprintf(buf, sizeof buf, "%u", UINT_MAX / 100 - 1);
	ck_assert_uint_eq(command_page(buf, UINT_MAX / 100 - 1),
	    UINT_MAX / 100 - 1);
	snprintf(buf, sizeof buf, "%u", UINT_MAX / 100);
	ck_assert_uint_eq(command_page(buf, UINT_MAX / 100 - 1), 0);

	/* Numbers that would overflow, or wrap to a small page. */
	snprintf(buf, sizeof buf, "%u", UINT_MAX);
	ck_assert_uint_eq(command_page(buf, UINT_MAX), UINT_MAX);
	ck_assert_uint_eq(command_page("4294967296", UINT_MAX), 0);
	ck_assert_uint_eq(command_page("4294967297", UINT_MAX), 0);
	/* 2^64 + 1: one in 64-bit arithmetic that wraps. */
	ck_assert_uint_eq(command_page("18446744073709551617", UINT_MAX), 0);
	ck_assert_uint_eq(command_page("99999999999999999999999999999999",
	    UINT_MAX), 0);
	ck_assert_uint_eq(command_page("00000000000000000000000000000002",
	    10), 2);
}
END_TEST

START_TEST(test_table)
{
	const struct command_info	*ci;
	char				 verb[32];
	int				 seen[CMD_ANNOUNCE + 1] = { 0 };
	size_t				 i, j;

	for (i = 0; i < COMMAND_COUNT; i++) {
		ci = command_nth(i);
		ck_assert_ptr_nonnull(ci);
		ck_assert_int_ge(ci->id, CMD_HELP);
		ck_assert_int_le(ci->id, CMD_ANNOUNCE);
		seen[ci->id]++;
		ck_assert_ptr_eq(command_info(ci->id), ci);

		ck_assert_ptr_nonnull(ci->name);
		ck_assert_uint_gt(strlen(ci->name), 0);
		ck_assert_uint_lt(strlen(ci->name), sizeof verb - 2);
		for (j = 0; ci->name[j] != '\0'; j++)
			ck_assert(islower((unsigned char)ci->name[j]));
		ck_assert_ptr_nonnull(ci->help);
		ck_assert_uint_gt(strlen(ci->help), 0);
		/* The usage starts with the command as typed. */
		ck_assert_ptr_nonnull(ci->usage);
		snprintf(verb, sizeof verb, "/%s", ci->name);
		ck_assert_msg(strncmp(ci->usage, verb, strlen(verb)) == 0 &&
		    (ci->usage[strlen(verb)] == '\0' ||
		    ci->usage[strlen(verb)] == ' '), "usage '%s' of %s",
		    ci->usage, ci->name);

		/* Reachable by typing it, in either case. */
		parse(verb);
		check_command(ci->id, verb + 1, "");
		for (j = 1; verb[j] != '\0'; j++)
			verb[j] = (char)toupper((unsigned char)verb[j]);
		parse(verb);
		check_command(ci->id, verb + 1, "");
	}
	for (i = CMD_HELP; i <= CMD_ANNOUNCE; i++)
		ck_assert_msg(seen[i] == 1, "command %zu listed %d times", i,
		    seen[i]);
	ck_assert_ptr_null(command_nth(COMMAND_COUNT));
	ck_assert_ptr_null(command_nth(COMMAND_COUNT + 100));
	ck_assert_ptr_null(command_info(CMD_CHAT));
	ck_assert_ptr_null(command_info(CMD_UNKNOWN));
}
END_TEST

/* The arguments of the account commands, by their grammar. */
#define FP	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
account_ok(enum command_id id, const char *args, struct account_args *a)
{
	const char	*why = NULL;

	ck_assert_msg(command_account(id, args, a, &why) == 0, "%s '%s': %s",
	    command_info(id)->name, args, why);
}

static void
account_bad(enum command_id id, const char *args, const char *want)
{
	struct account_args	 a;
	const char		*why = NULL;

	ck_assert_msg(command_account(id, args, &a, &why) == -1, "%s '%s' "
	    "accepted", command_info(id)->name, args);
	ck_assert_str_eq(why, want);
}

START_TEST(test_account_args)
{
	struct account_args	a;

	account_ok(CMD_REGISTER, "s3cret-pass", &a);
	ck_assert_uint_eq(a.password_len, 11);
	ck_assert_int_eq(strncmp(a.password, "s3cret-pass", 11), 0);
	account_bad(CMD_REGISTER, "", "/register PASSWORD");
	account_bad(CMD_REGISTER, "two words", "/register PASSWORD");

	account_ok(CMD_LOGIN, "Alice hunter22", &a);
	ck_assert_uint_eq(a.name_len, 5);
	ck_assert_int_eq(strncmp(a.name, "Alice", 5), 0);
	ck_assert_int_eq(strncmp(a.password, "hunter22", a.password_len), 0);
	account_bad(CMD_LOGIN, "alice", "/login NAME PASSWORD");
	account_bad(CMD_LOGIN, "alice pw extra", "/login NAME PASSWORD");
	account_bad(CMD_LOGIN, "al!ce hunter22", "no such account: names are "
	    "1 to 24 letters, digits, _, - or .");

	account_ok(CMD_PASSWORD, "old-one new-one", &a);
	ck_assert_int_eq(strncmp(a.password, "old-one", a.password_len), 0);
	ck_assert_int_eq(strncmp(a.newpw, "new-one", a.newpw_len), 0);
	account_bad(CMD_PASSWORD, "only-one", "/password OLD NEW");

	account_ok(CMD_LOGOUT, "", &a);
	account_bad(CMD_LOGOUT, "now", "/logout");
	account_ok(CMD_UNREGISTER, "pw", &a);

	account_ok(CMD_CERTFP, "list", &a);
	ck_assert_int_eq(a.sub, CERTFP_LIST);
	account_ok(CMD_CERTFP, "ADD", &a);
	ck_assert_int_eq(a.sub, CERTFP_ADD);
	account_ok(CMD_CERTFP, "del SHA256:" FP, &a);
	ck_assert_int_eq(a.sub, CERTFP_DEL);
	ck_assert_str_eq(a.certfp, FP);
	/* Either case, with or without the prefix. */
	account_ok(CMD_CERTFP, "del 0123456789ABCDEF0123456789ABCDEF"
	    "0123456789ABCDEF0123456789ABCDEF", &a);
	ck_assert_str_eq(a.certfp, FP);
	account_bad(CMD_CERTFP, "", "/certfp add|list|del [SHA256:HEX]");
	account_bad(CMD_CERTFP, "del", "/certfp add|list|del [SHA256:HEX]");
	account_bad(CMD_CERTFP, "del SHA256:0123", "/certfp add|list|del "
	    "[SHA256:HEX]");
	account_bad(CMD_CERTFP, "del SHA256:" FP "0", "/certfp add|list|del "
	    "[SHA256:HEX]");
	account_bad(CMD_CERTFP, "del g123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef", "/certfp add|list|del "
	    "[SHA256:HEX]");
	account_bad(CMD_CERTFP, "add " FP, "/certfp add|list|del "
	    "[SHA256:HEX]");
	account_bad(CMD_CERTFP, "remove", "/certfp add|list|del "
	    "[SHA256:HEX]");
	/* Not an account command. */
	account_bad(CMD_NICK, "alice", "/nick NAME");
}
END_TEST

static Suite *
command_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("command");

	tc = tcase_create("parse");
	tcase_add_test(tc, test_chat);
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_slash_alone);
	tcase_add_test(tc, test_unknown);
	tcase_add_test(tc, test_verbs);
	tcase_add_test(tc, test_trimming);
	suite_add_tcase(s, tc);

	tc = tcase_create("arguments");
	tcase_add_test(tc, test_word);
	tcase_add_test(tc, test_join);
	tcase_add_test(tc, test_page);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_account_args);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return run_suite(command_suite());
}
