/*
 * account.c: names people own, and operators who moderate from the chat.
 *
 * A user registers the name they hold (/register PASSWORD) and later logs
 * in to it (/login NAME PASSWORD), which takes the name from whoever holds
 * it; a registered name cannot be taken by /nick but by its owner, logged
 * in.  /password, /logout, /unregister, and /certfp add|list|del to log in
 * by a TLS client certificate instead of a password.  Accounts are kept by
 * acctdb.c (the state database, or the cluster's Redis).
 *
 * Each command is a request that pauses its client's read loop and runs
 * as a chain of futures: a store operation (acctdb_run()) and, for a
 * password, a hash on a worker thread (worker.c, hash.c), never on the
 * event loop.  The last step resumes the client, so its life still reads
 * "read a line, act, read the next".  A request names its client by id
 * and finds it again at each step: one that left meanwhile is simply not
 * found, and the request is freed when its chain ends.
 *
 * Passwords: refused on plain connections unless allow_plaintext_passwords
 * (a sniffer on the path reads them); one word of password_min to
 * PASSWORD_MAX bytes; copied out of the line, which is then wiped where
 * chatd holds it (the scratch buffer and the client's input buffer),
 * wiped from the request as soon as the hash is done, never logged, never
 * shown.  Wrong passwords (in /login, /password or /unregister) are
 * logged (name and address, never the password) and counted per address
 * and per account: after login_attempts failures a guess is refused until
 * login_interval seconds have forgiven one.  The counts live in an lru.c
 * table of at most login_tracked entries, the least recently failed
 * dropped first, so a flood of addresses costs bounded memory.
 *
 * While the store cannot be reached (Redis down), logins and registrations
 * fail saying so, and /nick keeps refusing the registered names this node
 * has seen (a cache of their keys, at most login_tracked of them).
 *
 * Operators: [accounts] operators lists account names that, logged in,
 * may /kick, /ban, /unban, /mute, /unmute and /announce from the chat,
 * with chatctl's meaning (control.c runs them); a kick of someone on
 * another node goes to that node through the cluster.
 */

#include <sys/queue.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "chatd.h"

enum account_op {
	OP_REGISTER,
	OP_LOGIN,
	OP_PASSWORD,
	OP_UNREGISTER,
	OP_CERTFP_ADD,
	OP_CERTFP_DEL,
	OP_CERTFP_LIST,
	OP_NICK,		/* may /nick take this name? */
	OP_CERT_LOGIN,		/* a TLS client's certificate */
};

struct account_req {
	struct worker_job	 job;
	struct acctdb_req	 db;
	struct accounts		*accounts;
	enum account_op		 op;
	int			 stage;		/* what completes next */
#define STAGE_STORE	0	/* acctdb */
#define STAGE_HASH	1	/* the worker */
#define STAGE_WRITE	2	/* acctdb, after the hash */
	uint64_t		 client;	/* id */
	char			 name[NAME_LEN + 1];
	char			 certfp[TLS_FP_LEN + 1];
	char			 addr_key[PEER_KEY_MAX];
	/* The worker's: */
	unsigned		 cost;
	char			 password[PASSWORD_MAX + 1];
	char			 newpw[PASSWORD_MAX + 1];
	char			 hash[HASH_MAX];	/* to check, or made */
	int			 matched;
	int			 error;
	TAILQ_ENTRY(account_req) entry;
};

struct accounts {
	struct server		*server;
	TAILQ_HEAD(, account_req) reqs;
	struct lru		 failures;	/* "a:ADDR", "n:KEY" */
	struct lru		 known;		/* registered name keys */
	char			**operators;	/* keys, NULL-ended */
};

/* What a step of a request says about what follows. */
#define STEP_END	0	/* r is done: its client reads on */
#define STEP_MORE	1	/* r waits for another step */
#define STEP_HANDED	2	/* r is done, its client waits for another */

static void	account_step(struct future *, void *);

/* Throttling -------------------------------------------------------------- */

/* Failures of e still counted at now: login_interval forgives one. */
static unsigned
account_failures(struct accounts *a, const struct lru_entry *e, uint64_t now)
{
	uint64_t	interval = (uint64_t)a->server->config->login_interval *
			    1000, forgiven;

	if (e == NULL)
		return (0);
	forgiven = now > e->ms ? (now - e->ms) / interval : 0;
	return (forgiven >= e->count ? 0 : e->count - (unsigned)forgiven);
}

/* The two keys a guess is counted under: its address and its account. */
static void
account_guess_keys(const char *addr_key, const char *name,
    char key[2][LRU_KEY_MAX])
{
	char	nk[NAME_LEN + 1];

	name_key(name, nk);
	snprintf(key[0], LRU_KEY_MAX, "a:%s", addr_key);
	snprintf(key[1], LRU_KEY_MAX, "n:%s", nk);
}

/*
 * Whether a password guess for name from addr_key may be checked now; if
 * not, *wait is the seconds until one may.
 */
static int
account_throttle_ok(struct accounts *a, const char *addr_key,
    const char *name, unsigned *wait)
{
	struct config		*conf = a->server->config;
	struct lru_entry	*e;
	char			 key[2][LRU_KEY_MAX];
	uint64_t		 now = server_now_ms(a->server), next, w = 0;
	int			 i;

	account_guess_keys(addr_key, name, key);
	for (i = 0; i < 2; i++) {
		e = lru_find(&a->failures, key[i]);
		if (account_failures(a, e, now) < conf->login_attempts)
			continue;
		/* One more failure must be forgiven first. */
		next = e->ms + (uint64_t)conf->login_interval * 1000 *
		    (e->count - conf->login_attempts + 1);
		if (next > now && next - now > w)
			w = next - now;
	}
	*wait = (unsigned)((w + 999) / 1000);
	return (w == 0);
}

/* A wrong guess for name from addr_key, counted under both. */
static void
account_throttle_fail(struct accounts *a, const char *addr_key,
    const char *name)
{
	struct lru_entry	*e;
	char			 key[2][LRU_KEY_MAX];
	uint64_t		 now = server_now_ms(a->server);
	int			 i;

	account_guess_keys(addr_key, name, key);
	for (i = 0; i < 2; i++) {
		e = lru_get(&a->failures, key[i]);
		e->count = account_failures(a, e, now) + 1;
		e->ms = now;
	}
}

/* Registered names seen ---------------------------------------------------- */

static void
account_known_set(struct accounts *a, const char *name, int registered)
{
	struct lru_entry	*e;
	char			 key[NAME_LEN + 1];

	name_key(name, key);
	if (registered)
		lru_get(&a->known, key);
	else if ((e = lru_find(&a->known, key)) != NULL)
		lru_drop(&a->known, e);
}

static int
account_known(struct accounts *a, const char *name)
{
	char	key[NAME_LEN + 1];

	name_key(name, key);
	return (lru_find(&a->known, key) != NULL);
}

/* Requests ----------------------------------------------------------------- */

static void
account_req_free(struct account_req *r)
{
	TAILQ_REMOVE(&r->accounts->reqs, r, entry);
	explicit_bzero(r, sizeof *r);
	free(r);
}

/* The worker's part: check a password, make a hash, or both. */
static void
account_job_run(struct worker_job *job)
{
	struct account_req	*r = (struct account_req *)job;

	r->error = 0;
	if (r->op == OP_REGISTER) {
		if (hash_make(r->password, r->cost, r->hash) != 0)
			r->error = errno;
	} else {
		r->matched = hash_check(r->password, r->hash) == 1;
		if (r->matched && r->op == OP_PASSWORD &&
		    hash_make(r->newpw, r->cost, r->hash) != 0)
			r->error = errno;
	}
	explicit_bzero(r->password, sizeof r->password);
	explicit_bzero(r->newpw, sizeof r->newpw);
}

static void
account_job_discard(struct worker_job *job)
{
	account_req_free((struct account_req *)job);
}

static struct account_req *
account_req_new(struct server *s, struct client *c, enum account_op op)
{
	struct accounts		*a = s->accounts;
	struct account_req	*r;

	r = xcalloc(1, sizeof *r);
	r->accounts = a;
	r->op = op;
	r->client = c->id;
	r->cost = s->config->hash_cost;
	r->job.run = account_job_run;
	r->job.discard = account_job_discard;
	peer_key(c->netaddr, s->config->ipv6_prefix, r->addr_key);
	TAILQ_INSERT_TAIL(&a->reqs, r, entry);
	return (r);
}

/* Starts a store operation of r; STEP_MORE: the client waits for it. */
static int
account_store(struct account_req *r, enum acctdb_op op, int stage)
{
	r->db.op = op;
	r->stage = stage;
	future_then(acctdb_run(r->accounts->server, &r->db), account_step, r);
	return (STEP_MORE);
}

/* Hands r to a worker; 1: the client waits.  0 if the pool is full. */
static int
account_hash_start(struct account_req *r)
{
	struct server	*s = r->accounts->server;
	struct future	*f;

	r->stage = STAGE_HASH;
	if (s->workers == NULL ||
	    (f = worker_submit(s->workers, &r->job)) == NULL)
		return (0);
	future_then(f, account_step, r);
	return (1);
}

/* The client of r, if it is still here. */
static struct client *
account_client(struct account_req *r)
{
	struct client	*c;

	c = roster_by_id(&r->accounts->server->roster, r->client);
	return (c != NULL && client_in_room(c) ? c : NULL);
}

/* Ends r: its client, if here and waiting, reads on. */
static void
account_done(struct account_req *r)
{
	struct client	*c = account_client(r);

	/* A certificate's login never paused its client. */
	if (c != NULL && (c->flags & CLIENT_WAITING) &&
	    r->op != OP_CERT_LOGIN)
		client_resume(c);
	account_req_free(r);
}

/* Messages ----------------------------------------------------------------- */

static void
account_unavailable(struct server *s, struct client *c)
{
	output_printf(c, "*** accounts cannot be reached now (%s), try "
	    "again later", acctdb_kind(s));
}

static int
account_busy(struct client *c)
{
	output_printf(c, "*** the server is busy, try again");
	return (0);
}

/* Logging in -------------------------------------------------------------- */

/* Why o, who holds name, loses it to its owner logging in (where). */
static void
account_why(char *why, size_t size, const struct client *o,
    const char *name, const char *where)
{
	if (o->account != NULL && name_same(o->account, name))
		snprintf(why, size, "%s logged in again%s, so you are logged "
		    "out", name, where);
	else
		snprintf(why, size, "the owner of %s logged in%s", name,
		    where);
}

/*
 * c logs in to acct: it is marked, and takes the name from whoever holds
 * it here (who becomes a guest, told why) and elsewhere in the cluster.
 */
static void
account_login(struct server *s, struct client *c, const struct account *acct,
    const char *how)
{
	struct client	*o;
	char		 why[128];

	free(c->account);
	c->account = xstrdup(acct->name);
	account_known_set(s->accounts, acct->name, 1);
	log_notice("client %llu [%s]: logged in as %s%s",
	    (unsigned long long)c->id, c->netaddr, acct->name, how);
	if ((o = roster_holder(&s->roster, acct->name)) != NULL && o != c) {
		account_why(why, sizeof why, o, acct->name, "");
		free(o->account);
		o->account = NULL;
		chat_guest(s, o, why);
	}
	output_printf(c, "*** you are logged in as %s%s", acct->name, how);
	/* Taken across the room first: the other nodes then see a rename. */
	cluster_take(s, acct->name);
	if (strcmp(c->name, acct->name) != 0)
		chat_renamed(s, c, acct->name);
}

/*
 * The account name is gone: every session here logged in to it is
 * logged out (they keep their names); c, which deleted it, is not told.
 */
static void
account_logout_all(struct server *s, const char *name, struct client *c)
{
	struct client	*o;

	TAILQ_FOREACH(o, &s->clients, entry) {
		if (o->account == NULL || !name_same(o->account, name))
			continue;
		free(o->account);
		o->account = NULL;
		if (o != c)
			output_printf(o, "*** %s was unregistered: you are "
			    "logged out", name);
	}
}

/* A login failed: counted, logged, and the client told the same either way. */
static void
account_login_failed(struct server *s, struct client *c,
    struct account_req *r, const char *why)
{
	account_throttle_fail(s->accounts, r->addr_key, r->name);
	/* A name that is no account may be a password typed first. */
	if (r->db.result == ACCTDB_NOTFOUND)
		log_notice("client %llu [%s]: failed login: no such account",
		    (unsigned long long)c->id, c->netaddr);
	else
		log_notice("client %llu [%s]: failed login as %s: %s",
		    (unsigned long long)c->id, c->netaddr, r->name, why);
	output_printf(c, "*** login failed: wrong name or password");
}

/* Continuations ----------------------------------------------------------- */

/* A store operation finished for r: STEP_END, _MORE or _HANDED. */
static int
account_stored(struct server *s, struct client *c, struct account_req *r)
{
	struct acctdb_req	*db = &r->db;
	struct account		*acct = &db->acct;
	unsigned		 i;

	if (db->result == ACCTDB_UNAVAILABLE) {
		if (r->op == OP_NICK) {
			/* Known registered names stay protected. */
			if (account_known(s->accounts, r->name)) {
				output_printf(c, "*** %s is registered; "
				    "accounts cannot be reached now, try "
				    "again later", r->name);
				return (STEP_END);
			}
			return (chat_nick_allowed(s, c, r->name) ?
			    STEP_HANDED : STEP_END);
		}
		if (r->op != OP_CERT_LOGIN)
			account_unavailable(s, c);
		return (STEP_END);
	}
	if (db->result == ACCTDB_FAILED) {
		if (r->op != OP_CERT_LOGIN)
			output_printf(c, "*** accounts: the server failed to "
			    "read or write the account; see its log");
		return (STEP_END);
	}
	switch (r->op) {
	case OP_NICK:
		account_known_set(s->accounts, r->name, db->result == ACCTDB_OK);
		if (db->result == ACCTDB_OK && (c->account == NULL ||
		    !name_same(c->account, acct->name))) {
			account_nick_owned(s, c, r->name);
			return (STEP_END);
		}
		/* The rename may ask Redis in turn. */
		return (chat_nick_allowed(s, c, r->name) ? STEP_HANDED :
		    STEP_END);
	case OP_CERT_LOGIN:
		if (db->result == ACCTDB_OK)
			account_login(s, c, acct, " by your certificate");
		return (STEP_END);
	case OP_REGISTER:
		if (db->result == ACCTDB_EXISTS) {
			account_known_set(s->accounts, r->name, 1);
			output_printf(c, "*** %s is already registered: /login "
			    "%s PASSWORD", r->name, r->name);
			return (STEP_END);
		}
		log_notice("client %llu [%s]: registered %s",
		    (unsigned long long)c->id, c->netaddr, acct->name);
		output_printf(c, "*** %s is registered to you", acct->name);
		account_login(s, c, acct, "");
		return (STEP_END);
	default:
		break;
	}
	if (r->stage == STAGE_STORE) {
		/* Read the account: now act on it. */
		if (db->result == ACCTDB_NOTFOUND) {
			if (r->op == OP_LOGIN) {
				account_login_failed(s, c, r, "no such "
				    "account");
				return (STEP_END);
			}
			/* Deleted elsewhere meanwhile. */
			output_printf(c, "*** your account no longer exists");
			free(c->account);
			c->account = NULL;
			return (STEP_END);
		}
		db->old = *acct;
		switch (r->op) {
		case OP_LOGIN:
		case OP_PASSWORD:
		case OP_UNREGISTER:
			snprintf(r->hash, sizeof r->hash, "%s", acct->hash);
			if (account_hash_start(r))
				return (STEP_MORE);
			account_busy(c);
			return (STEP_END);
		case OP_CERTFP_LIST:
			if (acct->ncertfps == 0)
				output_printf(c, "*** no certificates log in "
				    "%s; /certfp add adds the one you use",
				    acct->name);
			for (i = 0; i < acct->ncertfps; i++)
				output_printf(c, "*** SHA256:%s%s",
				    acct->certfps[i], c->certfp != NULL &&
				    strcmp(c->certfp, acct->certfps[i]) == 0 ?
				    " (this connection's)" : "");
			return (STEP_END);
		case OP_CERTFP_ADD:
			for (i = 0; i < acct->ncertfps; i++) {
				if (strcmp(acct->certfps[i], r->certfp) == 0) {
					output_printf(c, "*** that certificate "
					    "already logs in %s", acct->name);
					return (STEP_END);
				}
			}
			if (acct->ncertfps >= s->config->max_certfps) {
				output_printf(c, "*** %s has %u certificates, "
				    "the most allowed: /certfp del one first",
				    acct->name, acct->ncertfps);
				return (STEP_END);
			}
			memcpy(acct->certfps[acct->ncertfps++], r->certfp,
			    TLS_FP_LEN + 1);
			return (account_store(r, ACCTDB_UPDATE, STAGE_WRITE));
		case OP_CERTFP_DEL:
			for (i = 0; i < acct->ncertfps; i++) {
				if (strcmp(acct->certfps[i], r->certfp) == 0)
					break;
			}
			if (i == acct->ncertfps) {
				output_printf(c, "*** no such certificate: "
				    "/certfp list shows them");
				return (STEP_END);
			}
			memmove(acct->certfps[i], acct->certfps[i + 1],
			    (acct->ncertfps - i - 1) * sizeof acct->certfps[0]);
			memset(acct->certfps[--acct->ncertfps], 0,
			    sizeof acct->certfps[0]);
			return (account_store(r, ACCTDB_UPDATE, STAGE_WRITE));
		default:
			return (STEP_END);
		}
	}
	/* STAGE_WRITE: an update or delete was stored. */
	if (db->result == ACCTDB_CHANGED) {
		output_printf(c, "*** your account changed meanwhile, try "
		    "again");
		return (STEP_END);
	}
	if (db->result == ACCTDB_EXISTS) {
		output_printf(c, "*** that certificate logs in another "
		    "account");
		return (STEP_END);
	}
	switch (r->op) {
	case OP_PASSWORD:
		log_notice("client %llu [%s]: changed the password of %s",
		    (unsigned long long)c->id, c->netaddr, acct->name);
		output_printf(c, "*** password changed");
		break;
	case OP_UNREGISTER:
		log_notice("client %llu [%s]: unregistered %s",
		    (unsigned long long)c->id, c->netaddr, db->old.name);
		account_known_set(s->accounts, db->old.name, 0);
		account_logout_all(s, db->old.name, c);
		output_printf(c, "*** %s is no longer registered", db->old.name);
		break;
	case OP_CERTFP_ADD:
		log_notice("client %llu [%s]: certificate SHA256:%s now logs "
		    "in %s", (unsigned long long)c->id, c->netaddr, r->certfp,
		    acct->name);
		output_printf(c, "*** this certificate now logs you in as %s",
		    acct->name);
		break;
	case OP_CERTFP_DEL:
		output_printf(c, "*** certificate SHA256:%s no longer logs in "
		    "%s", r->certfp, acct->name);
		break;
	default:
		break;
	}
	return (STEP_END);
}

/* The worker finished r's hash: STEP_END or STEP_MORE. */
static int
account_hashed(struct server *s, struct client *c, struct account_req *r)
{
	if (r->op == OP_REGISTER) {
		if (r->error != 0) {
			log_warnx("accounts: cannot hash a password: %s",
			    strerror(r->error));
			output_printf(c, "*** cannot register now, try again");
			return (STEP_END);
		}
		memset(&r->db.acct, 0, sizeof r->db.acct);
		snprintf(r->db.acct.name, sizeof r->db.acct.name, "%s",
		    r->name);
		snprintf(r->db.acct.hash, sizeof r->db.acct.hash, "%s",
		    r->hash);
		r->db.acct.created = (int64_t)time(NULL);
		return (account_store(r, ACCTDB_CREATE, STAGE_WRITE));
	}
	if (!r->matched) {
		if (r->op == OP_LOGIN)
			account_login_failed(s, c, r, "wrong password");
		else {
			account_throttle_fail(s->accounts, r->addr_key, r->name);
			output_printf(c, "*** wrong password");
		}
		return (STEP_END);
	}
	switch (r->op) {
	case OP_LOGIN:
		account_login(s, c, &r->db.acct, "");
		return (STEP_END);
	case OP_PASSWORD:
		if (r->error != 0) {
			output_printf(c, "*** cannot change the password now, "
			    "try again");
			return (STEP_END);
		}
		snprintf(r->db.acct.hash, sizeof r->db.acct.hash, "%s",
		    r->hash);
		return (account_store(r, ACCTDB_UPDATE, STAGE_WRITE));
	case OP_UNREGISTER:
		return (account_store(r, ACCTDB_DELETE, STAGE_WRITE));
	default:
		return (STEP_END);
	}
}

static void
account_step(struct future *f, void *arg)
{
	struct account_req	*r = arg;
	struct server		*s = r->accounts->server;
	struct client		*c;
	int			 next;

	if ((c = account_client(r)) == NULL) {
		account_req_free(r);
		return;
	}
	next = r->stage == STAGE_HASH ? account_hashed(s, c, r) :
	    account_stored(s, c, r);
	if (next == STEP_END)
		account_done(r);
	else if (next == STEP_HANDED)
		account_req_free(r);
}

/* Commands ----------------------------------------------------------------- */

/* Whether c may send a password here; says why not. */
static int
account_secure(struct server *s, struct client *c)
{
	struct config	*conf = s->config;

	if ((c->flags & CLIENT_TLS) || conf->plaintext_passwords)
		return (1);
	if (conf->tls_cert != NULL)
		output_printf(c, "*** passwords go over TLS only: connect to "
		    "port %u with TLS (openssl s_client -quiet -connect "
		    "HOST:%u)", conf->tls_port, conf->tls_port);
	else
		output_printf(c, "*** passwords go over TLS only, and this "
		    "server has no TLS port");
	return (0);
}

/* A password argument: one word of password_min to PASSWORD_MAX bytes. */
static int
account_password(struct server *s, struct client *c, const char *p,
    size_t len, char *out)
{
	if (len < s->config->password_min || len > PASSWORD_MAX) {
		output_printf(c, "*** a password is %u to %u bytes, without "
		    "spaces", s->config->password_min, PASSWORD_MAX);
		return (0);
	}
	memcpy(out, p, len);
	out[len] = '\0';
	return (1);
}

/*
 * Handles an account command of c (cmd.id one of the account commands).
 * Returns 1 if c waits for an answer (resumed by client_resume()).
 */
int
account_input(struct server *s, struct client *c, const struct command *cmd)
{
	struct accounts		*a = s->accounts;
	struct account_req	*r;
	struct account_args	 args;
	const char		*why;
	char			 key[PEER_KEY_MAX], name[NAME_LEN + 1];
	unsigned		 wait;
	int			 rc = 0;

	if (command_account(cmd->id, cmd->args, &args, &why) != 0) {
		output_printf(c, "*** %s", why);
		goto out;
	}
	if (a == NULL) {
		output_printf(c, "*** accounts are off on this server");
		goto out;
	}
	if (args.password != NULL && !account_secure(s, c))
		goto out;
	if (cmd->id != CMD_REGISTER && cmd->id != CMD_LOGIN &&
	    c->account == NULL) {
		output_printf(c, "*** you are not logged in");
		goto out;
	}
	switch (cmd->id) {
	case CMD_REGISTER:
		if (c->account != NULL) {
			output_printf(c, "*** you are logged in as %s already",
			    c->account);
			goto out;
		}
		if (name_is_guest(c->name)) {
			output_printf(c, "*** take a name first (/nick NAME), "
			    "then register it");
			goto out;
		}
		break;
	case CMD_LOGIN:
		memcpy(name, args.name, args.name_len);
		name[args.name_len] = '\0';
		break;
	default:
		break;
	}
	/* Every command that checks a password is a guess to count. */
	if (args.password != NULL && cmd->id != CMD_REGISTER) {
		if (cmd->id != CMD_LOGIN)
			snprintf(name, sizeof name, "%s", c->account);
		peer_key(c->netaddr, s->config->ipv6_prefix, key);
		if (!account_throttle_ok(a, key, name, &wait)) {
			log_notice("client %llu [%s]: login as %s refused: too "
			    "many failures", (unsigned long long)c->id,
			    c->netaddr, name);
			output_printf(c, "*** too many failed logins: try "
			    "again in %u s", wait);
			goto out;
		}
	}
	switch (cmd->id) {
	case CMD_LOGOUT:
		log_notice("client %llu [%s]: logged out of %s",
		    (unsigned long long)c->id, c->netaddr, c->account);
		free(c->account);
		c->account = NULL;
		chat_guest(s, c, "you logged out");
		goto out;
	case CMD_CERTFP:
		if (args.sub == CERTFP_ADD && c->certfp == NULL) {
			output_printf(c, "*** this connection has no client "
			    "certificate to add");
			goto out;
		}
		break;
	default:
		break;
	}
	r = account_req_new(s, c, cmd->id == CMD_REGISTER ? OP_REGISTER :
	    cmd->id == CMD_LOGIN ? OP_LOGIN : cmd->id == CMD_PASSWORD ?
	    OP_PASSWORD : cmd->id == CMD_UNREGISTER ? OP_UNREGISTER :
	    args.sub == CERTFP_ADD ? OP_CERTFP_ADD : args.sub == CERTFP_DEL ?
	    OP_CERTFP_DEL : OP_CERTFP_LIST);
	if (args.password != NULL &&
	    (!account_password(s, c, args.password, args.password_len,
	    r->password) || (args.newpw != NULL && !account_password(s, c,
	    args.newpw, args.newpw_len, r->newpw)))) {
		account_req_free(r);
		goto out;
	}
	if (cmd->id == CMD_LOGIN)
		snprintf(r->name, sizeof r->name, "%s", name);
	else
		snprintf(r->name, sizeof r->name, "%s", c->account != NULL ?
		    c->account : c->name);
	if (r->op == OP_CERTFP_ADD)
		snprintf(r->certfp, sizeof r->certfp, "%s", c->certfp);
	else if (r->op == OP_CERTFP_DEL)
		memcpy(r->certfp, args.certfp, TLS_FP_LEN + 1);
	snprintf(r->db.acct.name, sizeof r->db.acct.name, "%s", r->name);
	if (r->op == OP_REGISTER) {
		if (!acctdb_available(s)) {
			account_unavailable(s, c);
			account_req_free(r);
			goto out;
		}
		if (!(rc = account_hash_start(r))) {
			account_busy(c);
			account_req_free(r);
		}
		goto out;
	}
	rc = account_store(r, ACCTDB_GET, STAGE_STORE);
out:
	/*
	 * The password is in r (if anywhere) now; not in the line, even one
	 * that did not parse (a password may be all it holds).
	 */
	if (cmd->id != CMD_LOGOUT && cmd->id != CMD_CERTFP) {
		explicit_bzero((char *)(uintptr_t)cmd->args, strlen(cmd->args));
		client_wipe_line(c);
	}
	return (rc);
}

/*
 * /nick name by c, valid and free here: unless it is registered to
 * someone else, chat_nick_allowed() goes on with it.  Returns 1: c waits.
 */
int
account_check_nick(struct server *s, struct client *c, const char *name)
{
	struct account_req	*r;

	if (s->accounts == NULL)
		return (chat_nick_allowed(s, c, name));
	if (c->account != NULL && name_same(c->account, name))
		return (chat_nick_allowed(s, c, name));
	if (s->config->cluster_redis != NULL) {
		/* cluster_nick() asks Redis in the same round trip. */
		if (cluster_up(s))
			return (chat_nick_allowed(s, c, name));
		/* Local-only: the names known to be registered stay so. */
		if (account_known(s->accounts, name)) {
			account_nick_owned(s, c, name);
			return (0);
		}
		return (chat_nick_allowed(s, c, name));
	}
	r = account_req_new(s, c, OP_NICK);
	snprintf(r->name, sizeof r->name, "%s", name);
	snprintf(r->db.acct.name, sizeof r->db.acct.name, "%s", name);
	return (account_store(r, ACCTDB_GET, STAGE_STORE));
}

/* name, which c asked for, is registered to someone else. */
void
account_nick_owned(struct server *s, struct client *c, const char *name)
{
	if (s->accounts != NULL)
		account_known_set(s->accounts, name, 1);
	output_printf(c, "*** %s is registered: /login %s PASSWORD to use it",
	    name, name);
}

/* A TLS client with a certificate joined: it may log in by it. */
void
account_joined(struct server *s, struct client *c)
{
	struct account_req	*r;

	if (s->accounts == NULL || c->certfp == NULL)
		return;
	r = account_req_new(s, c, OP_CERT_LOGIN);
	snprintf(r->db.certfp, sizeof r->db.certfp, "%s", c->certfp);
	r->db.op = ACCTDB_BY_CERTFP;
	r->stage = STAGE_STORE;
	future_then(acctdb_run(s, &r->db), account_step, r);
}

/* Whether c is logged in to an account of [accounts] operators. */
int
account_is_operator(struct server *s, const struct client *c)
{
	struct accounts	*a = s->accounts;
	char		 key[NAME_LEN + 1];
	size_t		 i;

	if (a == NULL || c->account == NULL || a->operators == NULL)
		return (0);
	name_key(c->account, key);
	for (i = 0; a->operators[i] != NULL; i++) {
		if (strcmp(a->operators[i], key) == 0)
			return (1);
	}
	return (0);
}

/* An operator on another node kicked someone: ours, if we hold them. */
void
account_remote_kick(struct server *s, const struct wire_msg *m)
{
	struct client	*o;
	char		 reason[BAN_REASON_MAX + 64];

	if ((o = roster_find(&s->roster, m->field[1])) == NULL)
		return;
	snprintf(reason, sizeof reason, "%s", m->field[2]);
	log_notice("operator %s (on node %s): kicked %s (#%llu)%s%s",
	    m->field[0], m->node, o->name, (unsigned long long)o->id,
	    *reason != '\0' ? ": " : "", reason);
	control_remove(o, "kicked", reason);
}

/* Someone logged in to name on another node: a holder here gives it up. */
void
account_remote_reclaim(struct server *s, const struct wire_msg *m)
{
	struct client	*o;
	char		 why[128];

	if ((o = roster_holder(&s->roster, m->field[0])) == NULL)
		return;
	account_why(why, sizeof why, o, m->field[0], " on another node");
	free(o->account);
	o->account = NULL;
	chat_guest(s, o, why);
}

/* Set up ------------------------------------------------------------------- */

/* Applies the config's operators and bounds (at start and on reload). */
void
account_configure(struct server *s)
{
	struct accounts	*a = s->accounts;
	char		**ops = s->config->operators;
	size_t		 i, n = 0;

	if (a == NULL)
		return;
	lru_limit(&a->failures, s->config->login_tracked);
	lru_limit(&a->known, s->config->login_tracked);
	for (i = 0; a->operators != NULL && a->operators[i] != NULL; i++)
		free(a->operators[i]);
	free(a->operators);
	a->operators = NULL;
	while (ops != NULL && ops[n] != NULL)
		n++;
	if (n == 0)
		return;
	a->operators = xcalloc(n + 1, sizeof *a->operators);
	for (i = 0; i < n; i++) {
		a->operators[i] = xcalloc(1, NAME_LEN + 1);
		name_key(ops[i], a->operators[i]);
	}
}

/*
 * Turns accounts on if the config wants them and there is a store for
 * them: the state database on a single node, Redis for a cluster.
 */
void
account_start(struct server *s)
{
	struct config	*conf = s->config;
	struct accounts	*a;
	int		 store = conf->cluster_redis != NULL || s->store != NULL;

	if (conf->accounts == ACCOUNTS_OFF || conf->mode == MODE_RAW)
		return;
	if (!store) {
		if (conf->accounts == ACCOUNTS_ON)
			log_warnx("accounts: no state database and no "
			    "cluster to keep them in: off");
		else
			log_notice("accounts: off (no state database to keep "
			    "them in)");
		return;
	}
	if ((s->workers = workers_new(s->base, &s->sched, conf->hash_workers,
	    conf->hash_queue)) == NULL) {
		log_warnx("accounts: no worker threads: off");
		return;
	}
	a = xcalloc(1, sizeof *a);
	a->server = s;
	TAILQ_INIT(&a->reqs);
	lru_init(&a->failures, conf->login_tracked);
	lru_init(&a->known, conf->login_tracked);
	s->accounts = a;
	account_configure(s);
	log_notice("accounts: on, kept in %s; passwords %s", acctdb_kind(s),
	    conf->plaintext_passwords ? "accepted on plain connections too "
	    "(allow_plaintext_passwords)" : "over TLS only");
}

void
account_free(struct server *s)
{
	struct accounts		*a = s->accounts;
	struct account_req	*r;
	size_t			 i;

	/* First the workers: the jobs they hold are discarded (freed). */
	workers_free(s->workers);
	s->workers = NULL;
	if (a == NULL)
		return;
	/* Requests whose continuation was still to run. */
	while ((r = TAILQ_FIRST(&a->reqs)) != NULL) {
		future_cancel(&r->db.done);
		future_cancel(&r->job.done);
		account_req_free(r);
	}
	lru_free(&a->failures);
	lru_free(&a->known);
	for (i = 0; a->operators != NULL && a->operators[i] != NULL; i++)
		free(a->operators[i]);
	free(a->operators);
	free(a);
	s->accounts = NULL;
}
