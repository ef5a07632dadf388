/*
 * libFuzzer target for config_parse_buffer().
 *
 * The input, NUL-terminated, is parsed over the defaults and the struct is
 * freed whatever the outcome: errors are fine, crashes and leaks are not.
 * A config that parses must satisfy what the daemon relies on (addresses,
 * a port on each, limits within their bounds, soft below hard), and an
 * error must read "fuzz.conf:..." within the buffer.  Any breach aborts.
 *
 * motd_file opens the path it names, so inputs that could name a device
 * or a FIFO (a path with a '/') are skipped: reading /dev/stdin would hang
 * the fuzzer.  Relative names still exercise the missing-file error.
 */

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_CHECK(e)	do { if (!(e)) abort(); } while (0)

#define FUZZ_NAME	"fuzz.conf"

static void
fuzz_check_config(const struct config *c)
{
	const struct config_addr	*a;
	size_t				 i;
	uint16_t			 port;

	FUZZ_CHECK(c->naddrs > 0 && c->addrs != NULL);
	FUZZ_CHECK(c->port != 0);
	for (i = 0; i < c->naddrs; i++) {
		a = &c->addrs[i];
		FUZZ_CHECK(a->text[0] != '\0');
		FUZZ_CHECK(memchr(a->text, '\0', sizeof a->text) != NULL);
		if (a->ss.ss_family == AF_INET) {
			FUZZ_CHECK(a->sslen == sizeof(struct sockaddr_in));
			port = ((const struct sockaddr_in *)&a->ss)->sin_port;
		} else {
			FUZZ_CHECK(a->ss.ss_family == AF_INET6);
			FUZZ_CHECK(a->sslen == sizeof(struct sockaddr_in6));
			port = ((const struct sockaddr_in6 *)&a->ss)->sin6_port;
		}
		FUZZ_CHECK(ntohs(port) == c->port);
	}
	FUZZ_CHECK(c->name != NULL && strlen(c->name) >= 1 &&
	    strlen(c->name) <= 64);
	FUZZ_CHECK(c->mode == MODE_CHAT || c->mode == MODE_RAW);
	FUZZ_CHECK(c->log_level >= LOG_LEVEL_ERROR &&
	    c->log_level <= LOG_LEVEL_DEBUG);
	FUZZ_CHECK(c->max_line >= 64 && c->max_line <= 1024 * 1024);
	FUZZ_CHECK(c->output_hard == 0 || c->output_soft <= c->output_hard);
	FUZZ_CHECK(c->rate_burst >= 1);
	FUZZ_CHECK(c->output_soft_seconds >= 1);
	FUZZ_CHECK(c->announce == 0 || c->announce == 1);
	FUZZ_CHECK(c->show_addresses == 0 || c->show_addresses == 1);
	if (c->motd != NULL)
		(void)strlen(c->motd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 c;
	char		*text, err[256];
	int		 rc;

	if (memchr(data, '/', size) != NULL &&
	    memmem(data, size, "motd_file", 9) != NULL)
		return (0);

	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';

	memset(err, 'X', sizeof err);
	config_defaults(&c);
	rc = config_parse_buffer(&c, FUZZ_NAME, text, err, sizeof err);
	if (rc == 0)
		fuzz_check_config(&c);
	else {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
		FUZZ_CHECK(strncmp(err, FUZZ_NAME ":", 10) == 0);
	}
	config_free(&c);
	free(text);
	return (0);
}
