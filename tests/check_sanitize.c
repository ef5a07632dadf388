/*
 * Unit tests for sanitize_line().
 *
 * A table of { input, expected } byte strings covers every rule (controls,
 * escape sequences, telnet, UTF-8, removed format characters, runs of
 * spaces), one row per loop iteration so a failure names its row.  The
 * padded fake server line the review found, loops over every C0 and C1
 * control, then property tests follow: a few thousand pseudo-random lines
 * (fixed-seed xorshift, biased towards the bytes that start sequences, or
 * strung together from pieces that meet the rules) must come out within
 * SANITIZE_MAX(), pass the invariants, and be unchanged by a second pass.
 * Output buffers are allocated at exactly SANITIZE_MAX(len) so that
 * AddressSanitizer catches an overrun.
 *
 * The checks on the output are in sanitize_invariants.h, shared with the
 * fuzz target; a table of verdicts makes sure they catch what they should.
 */

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_suite.h"
#include "sanitize.h"
#include "sanitize_invariants.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* A byte string literal as pointer and length (it may hold NULs). */
#define B(s)		(s), (sizeof(s) - 1)

#define FFFD		"\xef\xbf\xbd"

struct sanitize_case {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	const char	*want;
	size_t		 wantlen;
};

/*
 * Hex escapes run on while hex digits follow, so literals are split after
 * them: "\x01" "b", never "\x01b".
 */
static const struct sanitize_case cases[] = {
	/* Plain text and spaces. */
	{ "plain", B("hello, world"), B("hello, world") },
	{ "all printable ascii",
	    B(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"),
	    B(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") },

	/* Runs of spaces become one, at either end too. */
	{ "one space", B(" "), B(" ") },
	{ "spaces squeezed", B("  a  b  "), B(" a b ") },
	{ "only spaces", B("   "), B(" ") },
	{ "long run inside", B("a          b"), B("a b") },
	{ "spaces after utf-8", B("\xc3\xa9  \xc3\xa9"),
	    B("\xc3\xa9 \xc3\xa9") },
	{ "spaces after u+fffd", B("\x80  x"), B(FFFD " x") },
	{ "nbsp is not squeezed", B("a\xc2\xa0\xc2\xa0" "b"),
	    B("a\xc2\xa0\xc2\xa0" "b") },

	/* C0 controls, DEL, TAB. */
	{ "nul", B("a\0b"), B("ab") },
	{ "bel", B("ding\a"), B("ding") },
	{ "backspace", B("abc\b\b\bxyz"), B("abcxyz") },
	{ "lf inside", B("a\nb"), B("ab") },
	{ "cr inside", B("over\rwrite"), B("overwrite") },
	{ "stray trailing cr", B("hello\r"), B("hello") },
	{ "cr nul", B("a\r\0b"), B("ab") },
	{ "form feed, vt", B("a\f\vb"), B("ab") },
	{ "can, sub", B("a\x18" "b\x1a" "c"), B("abc") },
	{ "unit separator", B("a\x1f" "b"), B("ab") },
	{ "del", B("a\x7f" "b\x7f"), B("ab") },
	{ "tab", B("a\tb"), B("a b") },
	{ "tabs squeezed", B("\t\tx\t"), B(" x ") },
	{ "tabs and spaces squeezed", B("a \t \t b"), B("a b") },

	/* Spaces that meet once what was between them is removed. */
	{ "spaces around csi", B("a \x1b[0m b"), B("a b") },
	{ "spaces around sgr runs", B("\x1b[1m  \x1b[0m  \x1b[31m x"),
	    B(" x") },
	{ "spaces around osc", B("a \x1b]0;t\a b"), B("a b") },
	{ "spaces around c0", B("a \x01 \x7f b"), B("a b") },
	{ "spaces around c1", B("a \xc2\x85 b"), B("a b") },
	{ "spaces around 8-bit csi", B("a \xc2\x9b" "2J b"), B("a b") },
	{ "spaces around telnet", B("a \xff\xf1 \xff\xfb\x01 b"), B("a b") },
	{ "spaces around rlo", B("a \xe2\x80\xae b"), B("a b") },
	{ "spaces around zwsp", B("a \xe2\x80\x8b \xe2\x80\x8b b"),
	    B("a b") },
	{ "spaces around tags", B("a \xf3\xa0\x80\x81 b"), B("a b") },
	{ "trailing spaces then escape", B("x  \x1b[2J  "), B("x ") },

	/* C1 controls (UTF-8 encoded). */
	{ "c1 pad", B("a\xc2\x80" "b"), B("ab") },
	{ "c1 nel", B("a\xc2\x85" "b"), B("ab") },
	{ "c1 ri", B("a\xc2\x8d" "b"), B("ab") },
	{ "c1 st alone", B("a\xc2\x9c" "b"), B("ab") },
	{ "nbsp is not c1", B("a\xc2\xa0" "b"), B("a\xc2\xa0" "b") },

	/* CSI. */
	{ "csi clear screen", B("\x1b[2J"), B("") },
	{ "csi clear screen in text", B("a\x1b[2Jb"), B("ab") },
	{ "csi cursor home", B("\x1b[Hx"), B("x") },
	{ "sgr colours", B("\x1b[1;31mred\x1b[0m plain"), B("red plain") },
	{ "sgr 256 and truecolour",
	    B("\x1b[38;5;196mA\x1b[48;2;1;2;3mB\x1b[m"), B("AB") },
	{ "csi private mode", B("\x1b[?25lhidden cursor"),
	    B("hidden cursor") },
	{ "csi intermediate space", B("a\x1b[2 qb"), B("ab") },
	{ "csi intermediate bang", B("a\x1b[!pb"), B("ab") },
	{ "csi params and intermediates", B("a\x1b[1;2$rb"), B("ab") },
	{ "csi final tilde", B("a\x1b[3~b"), B("ab") },
	{ "csi unterminated", B("a\x1b[12;3"), B("a") },
	{ "csi bare at end", B("a\x1b["), B("a") },
	{ "csi cut by control", B("a\x1b[1\x01" "mb"), B("amb") },
	{ "csi cut by utf-8", B("a\x1b[1\xc3\xa9"), B("a\xc3\xa9") },

	/* OSC and the other control strings. */
	{ "osc title bel", B("\x1b]0;pwned\aok"), B("ok") },
	{ "osc title st", B("\x1b]2;pwned\x1b\\ok"), B("ok") },
	{ "osc unterminated", B("hi\x1b]0;title"), B("hi") },
	{ "osc hyperlink",
	    B("\x1b]8;;http://example.org/\x1b\\link\x1b]8;;\x1b\\!"),
	    B("link!") },
	{ "osc 8-bit st", B("\x1b]0;t\xc2\x9c" "ok"), B("ok") },
	{ "osc aborted by esc", B("\x1b]0;t\x1b[31mred"), B("red") },
	{ "osc with utf-8 inside", B("\x1b]0;\xe6\xbc\xa2\a!"), B("!") },
	{ "dcs", B("\x1bP1$r0m\x1b\\ok"), B("ok") },
	{ "dcs unterminated", B("a\x1bPq#0;2;0;0;0"), B("a") },
	{ "sos", B("\x1bXhidden\x1b\\ok"), B("ok") },
	{ "pm", B("\x1b^hidden\aok"), B("ok") },
	{ "apc", B("\x1b_hidden\x1b\\ok"), B("ok") },

	/* Other escapes. */
	{ "esc c (ris)", B("a\x1b" "cb"), B("ab") },
	{ "esc 7 and 8", B("\x1b" "7x\x1b" "8"), B("x") },
	{ "esc = and >", B("\x1b=x\x1b>"), B("x") },
	{ "esc ( B", B("\x1b(Bok"), B("ok") },
	{ "esc # 8", B("a\x1b#8b"), B("ab") },
	{ "esc space F", B("a\x1b F" "b"), B("ab") },
	{ "esc intermediate at end", B("a\x1b("), B("a") },
	{ "lone esc at end", B("abc\x1b"), B("abc") },
	{ "esc esc csi", B("\x1b\x1b[2Jx"), B("x") },
	{ "esc then control", B("a\x1b\x01" "b"), B("ab") },
	{ "esc then del", B("a\x1b\x7f" "b"), B("ab") },
	{ "esc then utf-8", B("\x1b\xc3\xa9"), B("\xc3\xa9") },

	/* 8-bit (C1) forms. */
	{ "8-bit csi", B("a\xc2\x9b" "2Jb"), B("ab") },
	{ "8-bit csi sgr", B("\xc2\x9b" "1;31mred"), B("red") },
	{ "8-bit csi unterminated", B("a\xc2\x9b" "12"), B("a") },
	{ "8-bit osc bel", B("\xc2\x9d" "0;t\aok"), B("ok") },
	{ "8-bit osc st", B("\xc2\x9d" "0;t\xc2\x9c" "ok"), B("ok") },
	{ "8-bit osc esc st", B("\xc2\x9d" "0;t\x1b\\ok"), B("ok") },
	{ "8-bit osc unterminated", B("a\xc2\x9d" "0;t"), B("a") },
	{ "8-bit dcs", B("\xc2\x90" "x\xc2\x9c" "ok"), B("ok") },
	{ "8-bit apc", B("\xc2\x9f" "x\aok"), B("ok") },

	/* Telnet. */
	{ "telnet will", B("\xff\xfb\x01" "hi"), B("hi") },
	{ "telnet do", B("\xff\xfd\x03" "hi"), B("hi") },
	{ "telnet wont dont", B("a\xff\xfc\x01" "b\xff\xfe\x22" "c"),
	    B("abc") },
	{ "telnet negotiation burst",
	    B("\xff\xfd\x03\xff\xfb\x18\xff\xfb\x1f\xff\xfd\x01" "hi"),
	    B("hi") },
	{ "telnet sb se", B("a\xff\xfa\x18\x00" "xterm\xff\xf0" "b"),
	    B("ab") },
	{ "telnet sb escaped iac",
	    B("a\xff\xfa\x18\xff\xff\xf0" "x\xff\xf0" "b"), B("ab") },
	{ "telnet sb unterminated", B("a\xff\xfa\x18" "xyz"), B("a") },
	{ "telnet sb iac at end", B("a\xff\xfa\x18\xff"), B("a") },
	{ "telnet nop ayt ip", B("a\xff\xf1" "b\xff\xf6" "c\xff\xf4"),
	    B("abc") },
	{ "telnet se outside sb", B("a\xff\xf0" "b"), B("ab") },
	{ "telnet unknown command", B("a\xff" "bc"), B("ac") },
	{ "iac iac", B("a\xff\xff" "b"), B("a" FFFD "b") },
	{ "iac iac iac iac", B("\xff\xff\xff\xff"), B(FFFD FFFD) },
	{ "lone iac", B("abc\xff"), B("abc") },
	{ "iac will at end", B("abc\xff\xfb"), B("abc") },
	{ "telnet inside utf-8", B("\xc3\xff\xf1\xa9"), B("\xc3\xa9") },
	{ "telnet inside csi", B("\x1b\xff\xfb\x01[2Jx"), B("x") },
	{ "iac iac after lead byte", B("\xc3\xff\xff"), B(FFFD FFFD) },
	{ "telnet then expansion", B("\xff\xf1\x80\x80\x80\x80"),
	    B(FFFD FFFD FFFD FFFD) },

	/* Valid UTF-8. */
	{ "accents", B("caf\xc3\xa9 na\xc3\xafve \xc3\x89t\xc3\xa9"),
	    B("caf\xc3\xa9 na\xc3\xafve \xc3\x89t\xc3\xa9") },
	{ "cjk", B("\xe6\xbc\xa2\xe5\xad\x97"), B("\xe6\xbc\xa2\xe5\xad\x97") },
	{ "emoji", B("\xf0\x9f\x98\x80"), B("\xf0\x9f\x98\x80") },
	{ "mixed scripts",
	    B("\xce\x95\xce\xbb \xd1\x80\xd1\x83 \xd7\xa2\xd7\x91 "
	    "\xe0\xa4\xb9\xe0\xa4\xbf \xed\x95\x9c \xf0\x9f\x98\x80!"),
	    B("\xce\x95\xce\xbb \xd1\x80\xd1\x83 \xd7\xa2\xd7\x91 "
	    "\xe0\xa4\xb9\xe0\xa4\xbf \xed\x95\x9c \xf0\x9f\x98\x80!") },
	{ "boundaries",
	    B("\xc2\xa0\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
	    "\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"),
	    B("\xc2\xa0\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
	    "\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf") },
	{ "u+fffd kept", B(FFFD), B(FFFD) },

	/*
	 * Format characters that reorder or hide text: removed, with the
	 * first, one inner and the last code point of each range, and the
	 * neighbours just outside it kept.
	 */
	{ "u+061c alm", B("a\xd8\x9c" "b"), B("ab") },
	{ "u+061b, u+061d kept", B("\xd8\x9b\xd8\x9d"),
	    B("\xd8\x9b\xd8\x9d") },
	{ "u+180e mvs", B("a\xe1\xa0\x8e" "b"), B("ab") },
	{ "u+180d, u+180f kept", B("\xe1\xa0\x8d\xe1\xa0\x8f"),
	    B("\xe1\xa0\x8d\xe1\xa0\x8f") },
	{ "u+200b zwsp", B("a\xe2\x80\x8b" "b"), B("ab") },
	{ "u+200d zwj", B("a\xe2\x80\x8d" "b"), B("ab") },
	{ "u+200f rlm", B("a\xe2\x80\x8f" "b"), B("ab") },
	{ "u+200a, u+2010 kept", B("\xe2\x80\x8a\xe2\x80\x90"),
	    B("\xe2\x80\x8a\xe2\x80\x90") },
	{ "u+202a lre", B("a\xe2\x80\xaa" "b"), B("ab") },
	{ "u+202c pdf", B("a\xe2\x80\xac" "b"), B("ab") },
	{ "u+202e rlo", B("a\xe2\x80\xae" "b"), B("ab") },
	{ "u+2027, u+202f kept", B("\xe2\x80\xa7\xe2\x80\xaf"),
	    B("\xe2\x80\xa7\xe2\x80\xaf") },
	{ "u+2060 wj", B("a\xe2\x81\xa0" "b"), B("ab") },
	{ "u+2062 invisible times", B("a\xe2\x81\xa2" "b"), B("ab") },
	{ "u+2064 invisible plus", B("a\xe2\x81\xa4" "b"), B("ab") },
	{ "u+205f, unassigned u+2065 kept", B("\xe2\x81\x9f\xe2\x81\xa5"),
	    B("\xe2\x81\x9f\xe2\x81\xa5") },
	{ "u+2066 lri", B("a\xe2\x81\xa6" "b"), B("ab") },
	{ "u+2067 rli", B("a\xe2\x81\xa7" "b"), B("ab") },
	{ "u+2069 pdi", B("a\xe2\x81\xa9" "b"), B("ab") },
	{ "u+206a iss", B("a\xe2\x81\xaa" "b"), B("ab") },
	{ "u+206c iafs", B("a\xe2\x81\xac" "b"), B("ab") },
	{ "u+206f nods", B("a\xe2\x81\xaf" "b"), B("ab") },
	{ "u+2070 kept", B("\xe2\x81\xb0"), B("\xe2\x81\xb0") },
	{ "u+feff bom", B("\xef\xbb\xbf" "a\xef\xbb\xbf" "b"), B("ab") },
	{ "u+fefe, u+ff01 kept", B("\xef\xbb\xbe\xef\xbc\x81"),
	    B("\xef\xbb\xbe\xef\xbc\x81") },
	{ "u+fff9 iaa", B("a\xef\xbf\xb9" "b"), B("ab") },
	{ "u+fffa ias", B("a\xef\xbf\xba" "b"), B("ab") },
	{ "u+fffb iat", B("a\xef\xbf\xbb" "b"), B("ab") },
	{ "u+fff8, u+fffc kept", B("\xef\xbf\xb8\xef\xbf\xbc"),
	    B("\xef\xbf\xb8\xef\xbf\xbc") },
	{ "u+e0000 tag", B("a\xf3\xa0\x80\x80" "b"), B("ab") },
	{ "u+e0041 tag a", B("a\xf3\xa0\x81\x81" "b"), B("ab") },
	{ "u+e007f cancel tag", B("a\xf3\xa0\x81\xbf" "b"), B("ab") },
	{ "u+dffff, u+e0080, u+e0100 kept",
	    B("\xf3\x9f\xbf\xbf\xf3\xa0\x82\x80\xf3\xa0\x84\x80"),
	    B("\xf3\x9f\xbf\xbf\xf3\xa0\x82\x80\xf3\xa0\x84\x80") },
	{ "trojan source rlo",
	    B("if (admin) {\xe2\x80\xae } \xe2\x81\xa6// ok"),
	    B("if (admin) { } // ok") },
	{ "rlo file name", B("invoice\xe2\x80\xaegpj.exe"),
	    B("invoicegpj.exe") },
	{ "zero widths in a word", B("ad\xe2\x80\x8bmi\xe2\x80\x8cn"),
	    B("admin") },
	{ "zwj emoji sequence comes apart",
	    B("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"),
	    B("\xf0\x9f\x91\xa8\xf0\x9f\x91\xa9") },
	{ "subdivision flag loses its tags",
	    B("\xf0\x9f\x8f\xb4\xf3\xa0\x81\xa7\xf3\xa0\x81\xa2"
	    "\xf3\xa0\x81\xa5\xf3\xa0\x81\xae\xf3\xa0\x81\xa7"
	    "\xf3\xa0\x81\xbf"),
	    B("\xf0\x9f\x8f\xb4") },
	{ "format char cut by the end", B("a\xe2\x80"), B("a" FFFD) },

	/* Line and paragraph separators: a space. */
	{ "u+2028 ls", B("a\xe2\x80\xa8" "b"), B("a b") },
	{ "u+2029 ps", B("a\xe2\x80\xa9" "b"), B("a b") },
	{ "u+2028 between spaces", B("a \xe2\x80\xa8 b"), B("a b") },
	{ "u+2028 u+2029 run", B("\xe2\x80\xa8\xe2\x80\xa9"), B(" ") },
	{ "u+2029 at the start", B("\xe2\x80\xa9" "*** x"), B(" *** x") },

	/* Invalid UTF-8: one U+FFFD per maximal subpart. */
	{ "lone continuation", B("a\x80" "b"), B("a" FFFD "b") },
	{ "continuations", B("\x80\xbf"), B(FFFD FFFD) },
	{ "overlong c0", B("\xc0\xaf"), B(FFFD FFFD) },
	{ "overlong c1", B("\xc1\xbf"), B(FFFD FFFD) },
	{ "overlong e0", B("\xe0\x80\xaf"), B(FFFD FFFD FFFD) },
	{ "overlong e0 9f", B("\xe0\x9f\xbf"), B(FFFD FFFD FFFD) },
	{ "overlong f0", B("\xf0\x80\x80\xaf"), B(FFFD FFFD FFFD FFFD) },
	{ "overlong f0 8f", B("\xf0\x8f\xbf\xbf"), B(FFFD FFFD FFFD FFFD) },
	{ "surrogate high", B("\xed\xa0\x80"), B(FFFD FFFD FFFD) },
	{ "surrogate low", B("\xed\xbf\xbf"), B(FFFD FFFD FFFD) },
	{ "above u+10ffff", B("\xf4\x90\x80\x80"), B(FFFD FFFD FFFD FFFD) },
	{ "f5 lead", B("\xf5\x80\x80\x80"), B(FFFD FFFD FFFD FFFD) },
	{ "f8 fe leads", B("\xf8\xfe"), B(FFFD FFFD) },
	{ "lead then ascii", B("\xc3" "A"), B(FFFD "A") },
	{ "lead then lead", B("\xe6\xc3\xa9"), B(FFFD "\xc3\xa9") },
	{ "truncated 2 at end", B("a\xc3"), B("a" FFFD) },
	{ "truncated 3 at end", B("\xe6\xbc"), B(FFFD) },
	{ "truncated 4 at end", B("\xf0\x9f\x98"), B(FFFD) },
	{ "truncated mid-line", B("\xe6\xbc" "x"), B(FFFD "x") },
	{ "truncated then valid", B("\xf0\x9f\xc3\xa9"), B(FFFD "\xc3\xa9") },
	{ "unicode table 3-8",
	    B("a\xf1\x80\x80\xe1\x80\xc2" "b\x80" "c\x80\xbf" "d"),
	    B("a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d") },

	/* Empty results. */
	{ "empty input", B(""), B("") },
	{ "only controls", B("\x01\x02\r"), B("") },
	{ "only cr nul", B("\r\0"), B("") },
	{ "only escapes", B("\x1b[2J\x1b[H\x1b]0;x\a"), B("") },
	{ "only telnet", B("\xff\xfd\x01\xff\xfb\x03"), B("") },
	{ "only c1", B("\xc2\x85\xc2\x9c"), B("") },
	{ "only format characters",
	    B("\xe2\x80\x8b\xe2\x80\xae\xef\xbb\xbf\xf3\xa0\x80\x81"),
	    B("") },
};

/* Format p[0..len) in hex into buf for a failure message; returns buf. */
static const char *
hex(char *buf, size_t size, const char *p, size_t len)
{
	size_t	i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < len && off + 4 < size; i++)
		off += snprintf(buf + off, size - off, "%02x ",
		    (unsigned char)p[i]);
	return (buf);
}

/* Sanitise into a buffer of exactly SANITIZE_MAX(len); caller frees. */
static char *
run(const char *in, size_t len, size_t *outlen)
{
	char	*out;

	out = malloc(SANITIZE_MAX(len) > 0 ? SANITIZE_MAX(len) : 1);
	ck_assert_ptr_nonnull(out);
	*outlen = sanitize_line(in, len, out);
	ck_assert_uint_le(*outlen, SANITIZE_MAX(len));
	return (out);
}

static void
check_one(const char *name, const char *in, size_t inlen, const char *want,
    size_t wantlen)
{
	char	 gotx[512], wantx[512];
	char	*got;
	size_t	 gotlen;

	got = run(in, inlen, &gotlen);
	if (gotlen != wantlen || memcmp(got, want, wantlen) != 0) {
		hex(gotx, sizeof gotx, got, gotlen);
		free(got);
		ck_abort_msg("%s: got [%s] want [%s]", name, gotx,
		    hex(wantx, sizeof wantx, want, wantlen));
	}
	free(got);
}

START_TEST(test_table)
{
	const struct sanitize_case	*c = &cases[_i];

	check_one(c->name, c->in, c->inlen, c->want, c->wantlen);
}
END_TEST

/*
 * What the review showed: 200 spaces then "*** admin: x" wrap on a narrow
 * terminal so that "*** admin: x" stands on a line of its own and reads
 * as the server talking.  Whatever the padding is made of, one space is
 * left, and the result is stable.
 */
static const struct {
	const char	*name;
	const char	*unit;
	size_t		 len;
} paddings[] = {
	{ "spaces", B(" ") },
	{ "tabs", B("\t") },
	{ "spaces and sgr", B(" \x1b[0m") },
	{ "spaces and del", B(" \x7f") },
	{ "line separators", B("\xe2\x80\xa8") },
	{ "spaces and zero widths", B(" \xe2\x80\x8b") },
	{ "spaces and telnet nops", B(" \xff\xf1") },
};

START_TEST(test_padded_fake_server_line)
{
	static const char	 want[] = " *** admin: x";
	char			 in[200 * 8 + sizeof want], name[64];
	size_t			 len = 0, j;

	ck_assert_uint_le(paddings[_i].len, 8);
	for (j = 0; j < 200; j++) {
		memcpy(in + len, paddings[_i].unit, paddings[_i].len);
		len += paddings[_i].len;
	}
	memcpy(in + len, want + 1, sizeof want - 2);
	len += sizeof want - 2;

	snprintf(name, sizeof name, "200 %s then *** admin: x",
	    paddings[_i].name);
	check_one(name, in, len, want, sizeof want - 1);
	check_one(name, want, sizeof want - 1, want, sizeof want - 1);
}
END_TEST

/* Every C0 control and DEL, inside the line and at its end. */
START_TEST(test_c0_each)
{
	unsigned char	c = _i == 0x20 ? 0x7f : (unsigned char)_i;
	char		in[4] = { 'a', (char)c, 'b', (char)c };
	char		name[32];

	snprintf(name, sizeof name, "c0 0x%02x", c);
	if (c == '\t')
		check_one(name, in, 4, "a b ", 4);
	else if (c == 0x1b)
		check_one(name, in + 1, 3, "", 0); /* ESC b, lone ESC */
	else
		check_one(name, in, 4, "ab", 2);
}
END_TEST

/* Every C1 control U+0080..U+009F at the end of a line. */
START_TEST(test_c1_each)
{
	char	in[4] = { 'a', 'b', (char)0xc2, (char)(0x80 + _i) };
	char	name[32];

	snprintf(name, sizeof name, "c1 U+%04X", 0x80 + _i);
	check_one(name, in, 4, "ab", 2);
}
END_TEST

static uint64_t
xorshift64(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (*s);
}

/*
 * A byte biased towards the starts of sequences, so that random lines
 * often hold escapes, telnet commands and UTF-8 fragments.
 */
static unsigned char
random_byte(uint64_t *s)
{
	static const unsigned char	special[] = {
		0x1b, '[', ']', 'P', '\\', 0x07, 0x09, 0x0d, 0x00, 0x7f,
		0xff, 0xff, 0xfa, 0xf0, 0xfb, 0xc2, 0x9b, 0x9c, 0x9d,
		0xc3, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0x80, 0xa0, 0xbf,
		' ', ' ', 0xd8, 0xe1, 0xe2, 0xf3, 0x81, 0x8b, 0xa8, 0xbb
	};
	uint64_t			r = xorshift64(s);

	switch (r % 4) {
	case 0:
		return ((unsigned char)(r >> 8));
	case 1:
		return (special[(r >> 8) % nitems(special)]);
	case 2:
		return ((unsigned char)(0x80 + (r >> 8) % 0x40));
	default:
		return ((unsigned char)(0x20 + (r >> 8) % 0x5f));
	}
}

START_TEST(test_random_properties)
{
	unsigned char	 in[96];
	char		*out, *again;
	const char	*why;
	char		 inx[512];
	uint64_t	 seed = 0x9e3779b97f4a7c15ULL;
	size_t		 len, outlen, againlen, j;
	int		 iter;

	for (iter = 0; iter < 5000; iter++) {
		len = xorshift64(&seed) % sizeof in;
		for (j = 0; j < len; j++)
			in[j] = random_byte(&seed);

		out = run((const char *)in, len, &outlen);
		why = sanitize_invariants_check((const unsigned char *)out,
		    outlen);
		ck_assert_msg(why == NULL, "iteration %d: %s from [%s]", iter,
		    why, hex(inx, sizeof inx, (const char *)in, len));

		again = run(out, outlen, &againlen);
		ck_assert_msg(againlen == outlen &&
		    memcmp(again, out, outlen) == 0,
		    "iteration %d: not idempotent for [%s]", iter,
		    hex(inx, sizeof inx, (const char *)in, len));
		free(again);
		free(out);
	}
}
END_TEST

/*
 * Lines strung together from pieces that meet the new rules: spaces,
 * TABs, separators and removed characters next to each other, to
 * escapes, telnet commands and cut sequences.  Random bytes seldom form
 * a well-formed U+202E, so these have their own property test.
 */
static const struct {
	const char	*s;
	size_t		 len;
} pieces[] = {
	{ B(" ") }, { B(" ") }, { B("  ") }, { B("\t") }, { B("a") },
	{ B("*") }, { B("\xc3\xa9") }, { B("\xe2\x80\x99") },
	{ B("\xe2\x80\xa8") }, { B("\xe2\x80\xa9") },
	{ B("\xd8\x9c") }, { B("\xe1\xa0\x8e") }, { B("\xe2\x80\x8b") },
	{ B("\xe2\x80\x8d") }, { B("\xe2\x80\xae") }, { B("\xe2\x81\xa0") },
	{ B("\xe2\x81\xa5") }, { B("\xe2\x81\xa9") }, { B("\xef\xbb\xbf") },
	{ B("\xef\xbf\xbb") }, { B("\xf3\xa0\x80\x81") },
	{ B("\xf3\xa0\x81\xbf") }, { B("\xe2\x80") }, { B("\xf3\xa0") },
	{ B("\x1b[0m") }, { B("\x1b]0;t\a") }, { B("\x1b") }, { B("\x01") },
	{ B("\xc2\x85") }, { B("\xc2\x9b") }, { B("\xff\xf1") },
	{ B("\xff\xff") }, { B("\xff") }, { B("\x80") }
};

START_TEST(test_random_pieces)
{
	char		 in[48 * 8], *out, *again, inx[512];
	const char	*why;
	uint64_t	 seed = 0x2545f4914f6cdd1dULL, r;
	size_t		 len, outlen, againlen, want;
	int		 iter;

	for (iter = 0; iter < 5000; iter++) {
		want = xorshift64(&seed) % 48;
		for (len = 0; want-- > 0;) {
			r = xorshift64(&seed) % nitems(pieces);
			ck_assert_uint_le(pieces[r].len, 8);
			memcpy(in + len, pieces[r].s, pieces[r].len);
			len += pieces[r].len;
		}

		out = run(in, len, &outlen);
		why = sanitize_invariants_check((const unsigned char *)out,
		    outlen);
		ck_assert_msg(why == NULL, "iteration %d: %s from [%s]", iter,
		    why, hex(inx, sizeof inx, in, len));

		again = run(out, outlen, &againlen);
		ck_assert_msg(againlen == outlen &&
		    memcmp(again, out, outlen) == 0,
		    "iteration %d: not idempotent for [%s]", iter,
		    hex(inx, sizeof inx, in, len));
		free(again);
		free(out);
	}
}
END_TEST

/*
 * The checker itself: it must refuse each thing it is there to catch, or
 * the property tests and the fuzz target would pass vacuously.
 */
static const struct {
	const char	*in;
	size_t		 len;
	int		 ok;
} verdicts[] = {
	{ B("plain text, one space"), 1 },
	{ B(" a b "), 1 },
	{ B("\xc2\xa0\xc2\xa0"), 1 },			/* NBSP NBSP */
	{ B("\xe2\x80\x8a\xe2\x81\xa5\xe2\x81\xb0"), 1 }, /* 200A 2065 2070 */
	{ B("\xef\xbf\xbc\xf3\xa0\x82\x80"), 1 },	/* FFFC E0080 */
	{ B("a  b"), 0 },
	{ B("  "), 0 },
	{ B("a\tb"), 0 },
	{ B("a\x7f"), 0 },
	{ B("\xc2\x9b"), 0 },
	{ B("\xc3"), 0 },
	{ B("\xd8\x9c"), 0 },
	{ B("\xe1\xa0\x8e"), 0 },
	{ B("\xe2\x80\x8b"), 0 },
	{ B("\xe2\x80\x8f"), 0 },
	{ B("\xe2\x80\xa8"), 0 },
	{ B("\xe2\x80\xa9"), 0 },
	{ B("\xe2\x80\xaa"), 0 },
	{ B("\xe2\x80\xae"), 0 },
	{ B("\xe2\x81\xa0"), 0 },
	{ B("\xe2\x81\xa4"), 0 },
	{ B("\xe2\x81\xa6"), 0 },
	{ B("\xe2\x81\xaf"), 0 },
	{ B("\xef\xbb\xbf"), 0 },
	{ B("\xef\xbf\xb9"), 0 },
	{ B("\xef\xbf\xbb"), 0 },
	{ B("\xf3\xa0\x80\x80"), 0 },
	{ B("\xf3\xa0\x81\xbf"), 0 },
};

START_TEST(test_invariants_checker)
{
	const char	*why;
	char		 inx[128];

	why = sanitize_invariants_check((const unsigned char *)verdicts[_i].in,
	    verdicts[_i].len);
	ck_assert_msg((why == NULL) == verdicts[_i].ok, "[%s]: %s",
	    hex(inx, sizeof inx, verdicts[_i].in, verdicts[_i].len),
	    why != NULL ? why : "accepted");
}
END_TEST

/* Idempotence on the table outputs too. */
START_TEST(test_table_idempotent)
{
	const struct sanitize_case	*c = &cases[_i];

	check_one(c->name, c->want, c->wantlen, c->want, c->wantlen);
}
END_TEST

/* Maximal expansion: every byte invalid fills SANITIZE_MAX() exactly. */
START_TEST(test_max_expansion)
{
	char	in[64], want[3 * sizeof in];
	size_t	i;

	for (i = 0; i < sizeof in; i++) {
		in[i] = (char)0x80;
		memcpy(want + 3 * i, FFFD, 3);
	}
	check_one("all continuation bytes", in, sizeof in, want, sizeof want);

	/* The same through the telnet path. */
	in[0] = (char)0xff;
	in[1] = (char)0xff;
	check_one("iac iac then continuation bytes", in, sizeof in, want,
	    sizeof want - 3);
}
END_TEST

static Suite *
sanitize_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("sanitize");

	tc = tcase_create("table");
	tcase_add_loop_test(tc, test_table, 0, (int)nitems(cases));
	tcase_add_loop_test(tc, test_table_idempotent, 0, (int)nitems(cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("spoofing");
	tcase_add_loop_test(tc, test_padded_fake_server_line, 0,
	    (int)nitems(paddings));
	suite_add_tcase(s, tc);

	tc = tcase_create("controls");
	tcase_add_loop_test(tc, test_c0_each, 0, 0x21);
	tcase_add_loop_test(tc, test_c1_each, 0, 0x20);
	suite_add_tcase(s, tc);

	tc = tcase_create("properties");
	tcase_add_test(tc, test_random_properties);
	tcase_add_test(tc, test_random_pieces);
	tcase_add_loop_test(tc, test_invariants_checker, 0,
	    (int)nitems(verdicts));
	tcase_add_test(tc, test_max_expansion);
	suite_add_tcase(s, tc);

	return (s);
}

int
main(void)
{
	return run_suite(sanitize_suite());
}
