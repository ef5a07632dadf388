/*
 * hash.c: passwords, hashed for storage and checked against the hash.
 *
 * yescrypt through libxcrypt's crypt_r(), the hash Debian uses for
 * /etc/shadow: a per-password random salt (crypt_gensalt_rn() reads the
 * kernel's randomness), a cost an operator sets ([accounts] hash_cost,
 * 1 to 11, each step doubling time and memory; 5, Debian's own default,
 * takes about 17 ms on a 2-core VM), and a self-describing string
 * ("$y$j9T$salt$hash") that records both, so a hash made under one cost
 * is still checked after the operator changes it.
 *
 * These run on worker threads (worker.c), never on the event loop, and
 * touch nothing but their arguments.  The password is wiped from what
 * crypt_r() worked in before returning; the caller wipes its own copy.
 * A stored hash is untrusted input like any record read back: one that
 * crypt_checksalt() does not call sound, or that is not yescrypt, is
 * refused rather than handed to crypt_r() to interpret.
 */

#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"

/* The prefix of every hash chatd writes. */
#define HASH_PREFIX	"$y$"

/*
 * Hashes password with a new salt at cost into out (HASH_MAX bytes).
 * Returns 0, or -1 with errno set.
 */
int
hash_make(const char *password, unsigned cost, char *out)
{
	struct crypt_data	*cd;
	char			 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	int			 rc = -1;

	if (crypt_gensalt_rn(HASH_PREFIX, cost, NULL, 0, salt,
	    sizeof salt) == NULL)
		return (-1);
	/* 32 KiB: too much for a worker's stack to hold twice. */
	if ((cd = calloc(1, sizeof *cd)) == NULL)
		return (-1);
	if (crypt_r(password, salt, cd) != NULL && cd->output[0] != '*' &&
	    strlen(cd->output) < HASH_MAX) {
		memcpy(out, cd->output, strlen(cd->output) + 1);
		rc = 0;
	} else
		errno = EINVAL;
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return (rc);
}

/* Whether stored is a sound yescrypt hash, as chatd writes them. */
int
hash_valid(const char *stored)
{
	size_t	len = strnlen(stored, HASH_MAX);

	return (len < HASH_MAX && strncmp(stored, HASH_PREFIX,
	    strlen(HASH_PREFIX)) == 0 && crypt_checksalt(stored) ==
	    CRYPT_SALT_OK);
}

/*
 * Checks password against stored.  Returns 1 if it matches, 0 if not,
 * -1 if stored is not a hash chatd could have written.
 */
int
hash_check(const char *password, const char *stored)
{
	struct crypt_data	*cd;
	const char		*a, *b;
	unsigned char		 diff = 0;
	size_t			 i, len;

	if (!hash_valid(stored))
		return (-1);
	if ((cd = calloc(1, sizeof *cd)) == NULL)
		return (-1);
	if (crypt_r(password, stored, cd) == NULL || cd->output[0] == '*') {
		explicit_bzero(cd, sizeof *cd);
		free(cd);
		return (-1);
	}
	/* In constant time: how much matched must not show. */
	a = cd->output;
	b = stored;
	len = strlen(stored);
	diff = strlen(a) != len;
	for (i = 0; i < len && a[i] != '\0'; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return (diff == 0);
}
