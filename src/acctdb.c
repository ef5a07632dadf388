/*
 * acctdb.c: where accounts are kept, behind one interface.
 *
 * A single node keeps its accounts in its state database (store.c, SQLite
 * on disk); a cluster keeps them in its Redis, so that an account made on
 * one node logs in on every other.  The rest of chatd (account.c) sees
 * one set of operations on whole records, each a request whose future
 * completes with a result: get by name, get by certificate fingerprint,
 * create unless the name is taken, and update or delete unless the record
 * changed since it was read (a compare-and-set, so two nodes changing one
 * account cannot silently undo each other).
 *
 * SQLite answers at once (a local file in WAL mode: microseconds), so its
 * requests complete before acctdb_run() returns and their continuations
 * run from the scheduler like any other.  Redis answers later, through
 * cluster_call(); each operation is a short chain of commands:
 *
 *	get		GET account:KEY
 *	by certfp	GET certfp:FP -> KEY, then GET account:KEY (and the
 *			record must list FP: a stale index entry is no login)
 *	create		SET account:KEY RECORD NX (a new account has no
 *			certificates)
 *	update		certfp:FP claimed for KEY by a script for each new
 *			certificate (one of another account: EXISTS), the
 *			record swapped by a compare-and-set script, then DEL
 *			certfp:FP of each certificate dropped
 *	delete		the record deleted by a compare-and-delete script,
 *			then DEL certfp:FP of its certificates
 *
 * The record is wire.c's one-line value; every value read back passes
 * wire_parse_account() before it is believed.  Redis unreachable means
 * ACCTDB_UNAVAILABLE, and the client is told so: never a silent reset.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"

/* Swaps KEYS[1] from ARGV[1] to ARGV[2]; 1 if it did, 0 if not ARGV[1]. */
#define ACCTDB_CAS	"if redis.call('GET', KEYS[1]) == ARGV[1] then " \
	"redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0"
/* Deletes KEYS[1] if it is ARGV[1]; 1 if it did. */
#define ACCTDB_CAD	"if redis.call('GET', KEYS[1]) == ARGV[1] then " \
	"redis.call('DEL', KEYS[1]) return 1 end return 0"
/* Sets KEYS[1] to ARGV[1] unless it holds another value; 1 if it is ours. */
#define ACCTDB_CLAIM	"local v = redis.call('GET', KEYS[1]) " \
	"if v == false then redis.call('SET', KEYS[1], ARGV[1]) return 1 " \
	"end if v == ARGV[1] then return 1 end return 0"

static void	acctdb_redis_reply(struct server *,
		    const struct cluster_reply *, void *);

/* Whether accounts can be reached now (the state file, or Redis up). */
int
acctdb_available(struct server *s)
{
	if (s->config->cluster_redis != NULL)
		return (cluster_up(s));
	return (s->store != NULL);
}

/* Where accounts live, for the log: "Redis" or "the state database". */
const char *
acctdb_kind(struct server *s)
{
	return (s->config->cluster_redis != NULL ? "Redis" :
	    "the state database");
}

static void
acctdb_finish(struct acctdb_req *r, enum acctdb_result result)
{
	r->result = result;
	future_complete(&r->done, r);
}

/* A certificate of a not in b. */
static const char *
acctdb_certfp_gone(const struct account *a, const struct account *b,
    unsigned *from)
{
	unsigned	i, j;

	for (i = *from; i < a->ncertfps; i++) {
		for (j = 0; j < b->ncertfps; j++) {
			if (strcmp(a->certfps[i], b->certfps[j]) == 0)
				break;
		}
		if (j == b->ncertfps) {
			*from = i + 1;
			return (a->certfps[i]);
		}
	}
	*from = i;
	return (NULL);
}

/* SQLite ---------------------------------------------------------------- */

static void
acctdb_sqlite(struct server *s, struct acctdb_req *r)
{
	char	key[NAME_LEN + 1];
	int	rc;

	name_key(r->op == ACCTDB_UPDATE || r->op == ACCTDB_DELETE ?
	    r->old.name : r->acct.name, key);
	switch (r->op) {
	case ACCTDB_GET:
		rc = store_account_get(s->store, key, &r->acct);
		break;
	case ACCTDB_BY_CERTFP:
		rc = store_account_by_certfp(s->store, r->certfp, &r->acct);
		break;
	case ACCTDB_CREATE:
		rc = store_account_create(s->store, key, &r->acct);
		break;
	case ACCTDB_UPDATE:
		rc = store_account_update(s->store, key, &r->old, &r->acct);
		break;
	case ACCTDB_DELETE:
		rc = store_account_delete(s->store, key, &r->old);
		break;
	default:
		rc = ACCTDB_FAILED;
		break;
	}
	acctdb_finish(r, (enum acctdb_result)rc);
}

/* Redis ------------------------------------------------------------------- */

/*
 * The state of a Redis operation between its commands: the keys and
 * records it works on, which of its steps comes next, and for update and
 * delete the next certificate to claim or drop.
 */
struct acctdb_redis {
	char		 akey[WIRE_KEY_MAX];
	char		 ckey[WIRE_CERTFP_KEY_MAX];
	char		 key[NAME_LEN + 1];
	char		 rec[WIRE_ACCOUNT_MAX];
	char		 oldrec[WIRE_ACCOUNT_MAX];
	unsigned	 next;
	enum {
		STEP_GET,		/* the record */
		STEP_INDEX,		/* certfp -> key */
		STEP_CREATE,
		STEP_CLAIM,		/* new certificates */
		STEP_SWAP,		/* the record, compared and set */
		STEP_DROP,		/* certificates let go */
	}		 step;
};

static void
acctdb_redis_finish(struct acctdb_req *r, enum acctdb_result result)
{
	free(r->redis);
	r->redis = NULL;
	acctdb_finish(r, result);
}

/*
 * Sends the next command of r (hiredis's format); its reply comes to
 * acctdb_redis_reply().  A command that cannot be sent finishes r.
 */
static void
acctdb_send(struct acctdb_req *r, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = cluster_vcall(r->server, acctdb_redis_reply, r, fmt, ap);
	va_end(ap);
	if (rc != 0)
		acctdb_redis_finish(r, ACCTDB_UNAVAILABLE);
}

/* Claims the next new certificate, or swaps (deletes) the record. */
static void
acctdb_redis_claim(struct acctdb_req *r)
{
	struct acctdb_redis	*x = r->redis;
	const char		*fp;

	if ((fp = acctdb_certfp_gone(&r->acct, &r->old, &x->next)) != NULL) {
		x->step = STEP_CLAIM;
		wire_certfp_key(cluster_prefix(r->server), fp, x->ckey);
		acctdb_send(r, "EVAL %s 1 %s %s", ACCTDB_CLAIM, x->ckey,
		    x->key);
		return;
	}
	x->step = STEP_SWAP;
	x->next = 0;
	if (r->op == ACCTDB_UPDATE)
		acctdb_send(r, "EVAL %s 1 %s %s %s", ACCTDB_CAS, x->akey,
		    x->oldrec, x->rec);
	else
		acctdb_send(r, "EVAL %s 1 %s %s", ACCTDB_CAD, x->akey,
		    x->oldrec);
}

/* Drops the next certificate the record no longer names, or ends. */
static void
acctdb_redis_drop(struct acctdb_req *r)
{
	struct acctdb_redis	*x = r->redis;
	const char		*fp;

	if ((fp = acctdb_certfp_gone(&r->old, &r->acct, &x->next)) == NULL) {
		acctdb_redis_finish(r, ACCTDB_OK);
		return;
	}
	x->step = STEP_DROP;
	wire_certfp_key(cluster_prefix(r->server), fp, x->ckey);
	acctdb_send(r, "DEL %s", x->ckey);
}

/* A record read back: ACCTDB_OK with r->acct, or why not. */
static enum acctdb_result
acctdb_redis_record(struct acctdb_req *r, const struct cluster_reply *cr)
{
	if (cr->type == CLUSTER_REPLY_NIL)
		return (ACCTDB_NOTFOUND);
	if (cr->type != CLUSTER_REPLY_STRING)
		return (ACCTDB_FAILED);
	if (wire_parse_account(cr->str, cr->len, ACCOUNT_CERTFPS_MAX,
	    &r->acct) != 0) {
		log_warnx("accounts: a malformed account record in Redis "
		    "(%s) is not used", r->redis->akey);
		return (ACCTDB_FAILED);
	}
	return (ACCTDB_OK);
}

static void
acctdb_redis_reply(struct server *s, const struct cluster_reply *cr,
    void *arg)
{
	struct acctdb_req	*r = arg;
	struct acctdb_redis	*x = r->redis;
	enum acctdb_result	 res;
	unsigned		 i;

	if (cr == NULL) {
		acctdb_redis_finish(r, ACCTDB_UNAVAILABLE);
		return;
	}
	switch (x->step) {
	case STEP_GET:
		res = acctdb_redis_record(r, cr);
		/* By certificate: the record must still list it. */
		if (res == ACCTDB_OK && r->op == ACCTDB_BY_CERTFP) {
			res = ACCTDB_NOTFOUND;
			for (i = 0; i < r->acct.ncertfps; i++) {
				if (strcmp(r->acct.certfps[i], r->certfp) ==
				    0)
					res = ACCTDB_OK;
			}
		}
		acctdb_redis_finish(r, res);
		return;
	case STEP_INDEX:
		if (cr->type == CLUSTER_REPLY_NIL) {
			acctdb_redis_finish(r, ACCTDB_NOTFOUND);
			return;
		}
		if (cr->type != CLUSTER_REPLY_STRING ||
		    !name_valid(cr->str, cr->len)) {
			log_warnx("accounts: a malformed certificate record "
			    "in Redis is not used");
			acctdb_redis_finish(r, ACCTDB_FAILED);
			return;
		}
		memcpy(x->key, cr->str, cr->len);
		x->key[cr->len] = '\0';
		wire_account_key(cluster_prefix(s), x->key, x->akey);
		x->step = STEP_GET;
		acctdb_send(r, "GET %s", x->akey);
		return;
	case STEP_CREATE:
		acctdb_redis_finish(r, cr->type == CLUSTER_REPLY_STATUS ?
		    ACCTDB_OK : cr->type == CLUSTER_REPLY_NIL ?
		    ACCTDB_EXISTS : ACCTDB_FAILED);
		return;
	case STEP_CLAIM:
		if (cr->type != CLUSTER_REPLY_INTEGER) {
			acctdb_redis_finish(r, ACCTDB_FAILED);
			return;
		}
		if (cr->integer != 1) {
			acctdb_redis_finish(r, ACCTDB_EXISTS);
			return;
		}
		acctdb_redis_claim(r);
		return;
	case STEP_SWAP:
		if (cr->type != CLUSTER_REPLY_INTEGER) {
			acctdb_redis_finish(r, ACCTDB_FAILED);
			return;
		}
		if (cr->integer != 1) {
			acctdb_redis_finish(r, ACCTDB_CHANGED);
			return;
		}
		acctdb_redis_drop(r);
		return;
	case STEP_DROP:
		acctdb_redis_drop(r);
		return;
	}
}

static void
acctdb_redis(struct server *s, struct acctdb_req *r)
{
	struct acctdb_redis	*x;
	const struct account	*named;

	x = r->redis = xcalloc(1, sizeof *x);
	named = r->op == ACCTDB_UPDATE || r->op == ACCTDB_DELETE ? &r->old :
	    &r->acct;
	if (r->op != ACCTDB_BY_CERTFP) {
		name_key(named->name, x->key);
		wire_account_key(cluster_prefix(s), named->name, x->akey);
	}
	switch (r->op) {
	case ACCTDB_GET:
		x->step = STEP_GET;
		acctdb_send(r, "GET %s", x->akey);
		break;
	case ACCTDB_BY_CERTFP:
		x->step = STEP_INDEX;
		wire_certfp_key(cluster_prefix(s), r->certfp, x->ckey);
		acctdb_send(r, "GET %s", x->ckey);
		break;
	case ACCTDB_CREATE:
		if (r->acct.ncertfps != 0 ||
		    wire_account(&r->acct, x->rec, sizeof x->rec) < 0) {
			acctdb_redis_finish(r, ACCTDB_FAILED);
			break;
		}
		x->step = STEP_CREATE;
		acctdb_send(r, "SET %s %s NX", x->akey, x->rec);
		break;
	case ACCTDB_DELETE:
		memset(&r->acct, 0, sizeof r->acct);
		/* FALLTHROUGH */
	case ACCTDB_UPDATE:
		if (wire_account(&r->old, x->oldrec, sizeof x->oldrec) < 0 ||
		    wire_account(&r->acct, x->rec, sizeof x->rec) < 0) {
			acctdb_redis_finish(r, ACCTDB_FAILED);
			break;
		}
		acctdb_redis_claim(r);
		break;
	}
}

/*
 * Starts r (op and its inputs set); the returned future completes with r,
 * whose result says how it went.  A store that cannot be reached now
 * completes it with ACCTDB_UNAVAILABLE.
 */
struct future *
acctdb_run(struct server *s, struct acctdb_req *r)
{
	r->server = s;
	r->redis = NULL;
	future_init(&r->done, &s->sched);
	future_start(&r->done);
	if (!acctdb_available(s))
		acctdb_finish(r, ACCTDB_UNAVAILABLE);
	else if (s->config->cluster_redis != NULL)
		acctdb_redis(s, r);
	else
		acctdb_sqlite(s, r);
	return (&r->done);
}
