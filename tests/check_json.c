/*
 * Unit tests for json_string() (json.c), what chatctl --json prints of
 * names, addresses and reasons: quotes and backslashes escaped, every
 * control byte as \u00XX, everything else (printable ASCII, UTF-8, DEL)
 * byte for byte, and the string appended to what the buffer holds.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "chatd.h"
#include "run_suite.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

static struct evbuffer	*b;

static void
setup(void)
{
	if ((b = evbuffer_new()) == NULL)
		ck_abort_msg("evbuffer_new");
}

static void
teardown(void)
{
	evbuffer_free(b);
}

/* What the buffer holds, as a string owned by the buffer. */
static const char *
contents(void)
{
	evbuffer_add(b, "", 1);
	return ((const char *)evbuffer_pullup(b, -1));
}

static const struct {
	const char	*in;
	const char	*want;
} cases[] = {
	{ "", "\"\"" },
	{ "alice", "\"alice\"" },
	{ "say \"hi\"", "\"say \\\"hi\\\"\"" },
	{ "\"", "\"\\\"\"" },
	{ "back\\slash", "\"back\\\\slash\"" },
	{ "\\\"", "\"\\\\\\\"\"" },
	{ "tab\there", "\"tab\\u0009here\"" },
	{ "new\nline", "\"new\\u000aline\"" },
	{ "\r\n", "\"\\u000d\\u000a\"" },
	{ "\x1b[31mred", "\"\\u001b[31mred\"" },
	{ "\x01\x1f", "\"\\u0001\\u001f\"" },
	/* DEL is no control character to JSON. */
	{ "del\x7f", "\"del\x7f\"" },
	/* UTF-8 as it is. */
	{ "caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80",
	    "\"caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80\"" },
	{ "2001:db8::/64", "\"2001:db8::/64\"" },
	{ "/ and '", "\"/ and '\"" },
};

START_TEST(test_cases)
{
	json_string(b, cases[_i].in);
	ck_assert_str_eq(contents(), cases[_i].want);
}
END_TEST

/* Each byte from 1 to 127 alone: escaped exactly when it must be. */
START_TEST(test_every_ascii_byte)
{
	char	in[2], want[16];
	int	c;

	for (c = 1; c < 128; c++) {
		in[0] = (char)c;
		in[1] = '\0';
		if (c < 0x20)
			snprintf(want, sizeof want, "\"\\u%04x\"", c);
		else if (c == '"' || c == '\\')
			snprintf(want, sizeof want, "\"\\%c\"", c);
		else
			snprintf(want, sizeof want, "\"%c\"", c);
		evbuffer_drain(b, evbuffer_get_length(b));
		json_string(b, in);
		ck_assert_msg(strcmp(contents(), want) == 0, "byte %#x: '%s', "
		    "want '%s'", c, contents(), want);
	}
}
END_TEST

/* It appends; a long string with escapes throughout comes out whole. */
START_TEST(test_appends)
{
	char	*in, *want, *p;
	size_t	 i, n = 10000;

	evbuffer_add(b, "{\"name\":", 8);
	json_string(b, "bob");
	evbuffer_add(b, ",\"reason\":", 10);
	json_string(b, "a \"b\"");
	evbuffer_add(b, "}", 1);
	ck_assert_str_eq(contents(), "{\"name\":\"bob\",\"reason\":"
	    "\"a \\\"b\\\"\"}");

	evbuffer_drain(b, evbuffer_get_length(b));
	if ((in = malloc(n + 1)) == NULL || (want = malloc(6 * n + 3)) ==
	    NULL)
		ck_abort_msg("out of memory");
	p = want;
	*p++ = '"';
	for (i = 0; i < n; i++) {
		switch (i % 4) {
		case 0:
			in[i] = 'x';
			*p++ = 'x';
			break;
		case 1:
			in[i] = '"';
			p += sprintf(p, "\\\"");
			break;
		case 2:
			in[i] = '\x02';
			p += sprintf(p, "\\u0002");
			break;
		default:
			in[i] = '\\';
			p += sprintf(p, "\\\\");
			break;
		}
	}
	in[n] = '\0';
	*p++ = '"';
	*p = '\0';
	json_string(b, in);
	ck_assert_uint_eq(evbuffer_get_length(b), strlen(want));
	ck_assert_str_eq(contents(), want);
	free(in);
	free(want);
}
END_TEST

static Suite *
json_suite(void)
{
	Suite	*s = suite_create("json");
	TCase	*tc;

	tc = tcase_create("string");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_cases, 0, nitems(cases));
	tcase_add_test(tc, test_every_ascii_byte);
	tcase_add_test(tc, test_appends);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (run_suite(json_suite()));
}
