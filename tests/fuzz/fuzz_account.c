/*
 * libFuzzer target for the grammars of accounts: command_account(), the
 * arguments of /register, /login, /password, /logout, /unregister and
 * /certfp, and wire_parse_account(), an account as read back from Redis.
 *
 * The first byte picks the command; the rest is the line a client typed
 * after "/verb ", sanitised as server_input() does and trimmed as
 * command_parse() leaves it.  What parses must be usable as is: every
 * pointer inside the arguments, a password one word of at most the line's
 * length, a name that name_valid() accepts, a fingerprint of 64 lower-case
 * hex digits for del only, and a /certfp subcommand in range.  What does
 * not parse must say why.
 *
 * The same bytes, unsanitised, go to wire_parse_account(): a record that
 * parses must hold a valid name that is no guest's, a hash hash_valid()
 * accepts, fingerprints of the right form and no more than allowed, and
 * must come back from wire_account() as the same bytes (one record, one
 * text), so that a compare-and-set of a record chatd wrote matches.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "sanitize.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CHECK(e)	do { if (!(e)) abort(); } while (0)

static const enum command_id fuzz_ids[] = {
	CMD_REGISTER, CMD_LOGIN, CMD_PASSWORD, CMD_LOGOUT, CMD_UNREGISTER,
	CMD_CERTFP, CMD_NICK,
};

static int
fuzz_inside(const char *p, const char *line, size_t len)
{
	return (p >= line && p <= line + len);
}

static int
fuzz_word(const char *p, size_t len)
{
	return (len > 0 && memchr(p, ' ', len) == NULL &&
	    memchr(p, '\0', len) == NULL);
}

static void
fuzz_args(enum command_id id, const uint8_t *data, size_t size)
{
	struct account_args	 a;
	const char		*why = NULL, *args;
	char			*line;
	size_t			 n, i;

	if ((line = malloc(SANITIZE_MAX(size) + 1)) == NULL)
		abort();
	n = sanitize_line((const char *)data, size, line);
	line[n] = '\0';
	/* As command_parse() leaves arguments: no space at either end. */
	while (n > 0 && line[n - 1] == ' ')
		line[--n] = '\0';
	args = line;
	while (*args == ' ')
		args++;
	if (command_account(id, args, &a, &why) != 0) {
		FUZZ_CHECK(why != NULL);
		free(line);
		return;
	}
	FUZZ_CHECK(id != CMD_NICK);
	if (a.password != NULL) {
		FUZZ_CHECK(fuzz_inside(a.password, line, n));
		FUZZ_CHECK(fuzz_word(a.password, a.password_len));
	}
	if (a.newpw != NULL) {
		FUZZ_CHECK(id == CMD_PASSWORD);
		FUZZ_CHECK(fuzz_inside(a.newpw, line, n));
		FUZZ_CHECK(fuzz_word(a.newpw, a.newpw_len));
	}
	if (a.name != NULL) {
		FUZZ_CHECK(id == CMD_LOGIN);
		FUZZ_CHECK(name_valid(a.name, a.name_len));
	}
	if (id == CMD_REGISTER || id == CMD_UNREGISTER || id == CMD_LOGIN)
		FUZZ_CHECK(a.password != NULL);
	if (id == CMD_CERTFP) {
		FUZZ_CHECK(a.sub == CERTFP_LIST || a.sub == CERTFP_ADD ||
		    a.sub == CERTFP_DEL);
		if (a.sub == CERTFP_DEL) {
			FUZZ_CHECK(strlen(a.certfp) == 64);
			for (i = 0; i < 64; i++)
				FUZZ_CHECK((a.certfp[i] >= '0' &&
				    a.certfp[i] <= '9') || (a.certfp[i] >= 'a' &&
				    a.certfp[i] <= 'f'));
		} else
			FUZZ_CHECK(a.certfp[0] == '\0');
	}
	free(line);
}

static void
fuzz_record(const uint8_t *data, size_t size)
{
	struct account	 a;
	char		 again[WIRE_ACCOUNT_MAX];
	unsigned	 i, max = size > 0 ? data[0] % (ACCOUNT_CERTFPS_MAX + 2) :
			    8;
	int		 n;

	if (wire_parse_account((const char *)data, size, max, &a) != 0)
		return;
	FUZZ_CHECK(name_valid(a.name, strlen(a.name)));
	FUZZ_CHECK(!name_is_guest(a.name));
	FUZZ_CHECK(hash_valid(a.hash));
	FUZZ_CHECK(a.created >= 0);
	FUZZ_CHECK(a.ncertfps <= max && a.ncertfps <= ACCOUNT_CERTFPS_MAX);
	for (i = 0; i < a.ncertfps; i++)
		FUZZ_CHECK(wire_certfp_valid(a.certfps[i],
		    strlen(a.certfps[i])));
	n = wire_account(&a, again, sizeof again);
	FUZZ_CHECK(n >= 0 && (size_t)n == size &&
	    memcmp(again, data, size) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return (0);
	fuzz_args(fuzz_ids[data[0] % (sizeof fuzz_ids / sizeof fuzz_ids[0])],
	    data + 1, size - 1);
	fuzz_record(data, size);
	return (0);
}
