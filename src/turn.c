/*
 * turn.c: what the room says in one loop turn, written once to everyone.
 *
 * A broadcast line is not queued on each recipient.  It is appended to the
 * turn: one buffer holding the lines broadcast since the last flush, and a
 * mark per line saying where it ends and who said it.  When the loop turn's
 * input has been handled, the server's flush hands every member of the
 * room its part, the lines it has not had yet less its own, as a few
 * iovecs into that one buffer; output_flush() writes them with one
 * writev() and queues only what the socket did not take.  A turn of L
 * lines to N clients thus costs N writes and no per-line work per
 * recipient, where queuing every line on every client cost N x L
 * evbuffer_add() calls and as many copies (README, Performance).
 *
 * Order is kept per client: before anything else is queued for a client
 * (a notice, a private line), its part of the turn so far is queued first
 * (output_sync()); a client joining mid-turn starts at the end of what was
 * said before it joined (turn_join()); one that is leaving gets nothing
 * more.  A client's place is the index of the first mark it has not had,
 * valid for the turn numbered turn_gen; a place from an earlier turn means
 * the client has had everything before this turn.
 *
 * The buffer is a reference-counted msg, so that a slow reader's queue can
 * refer to its part instead of copying it.  It is reused turn after turn
 * unless a queue still refers to it, and then the next turn starts a new
 * one; a room quiet for a second gives it back (turn_trim(), called by
 * room_trim() from the server's cron), so that a server of many rooms holds
 * buffers only for those that talk.  The server flushes early once a turn
 * holds TURN_BYTES bytes or TURN_LINES lines (turn_room()), which bounds the
 * buffer and the iovecs of a part: at most one more than the lines of the
 * turn.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <stdlib.h>
#include <string.h>

#include "chatd.h"

/*
 * The iovecs of one client's part: parts are made and written one at a
 * time, by one loop, so every room's turn shares them.
 */
static struct iovec	turn_iov[TURN_LINES + 1];

#define TURN_MARKS_MIN	16	/* marks of a new turn; they double */

void
turn_init(struct turn *t)
{
	memset(t, 0, sizeof *t);
	t->gen = 1;	/* new clients' turn_gen of 0 is never current */
}

void
turn_free(struct turn *t)
{
	if (t->buf != NULL)
		msg_unref(t->buf);
	free(t->marks);
	memset(t, 0, sizeof *t);
}

/*
 * Gives back the memory of a turn with nothing in it (a room that has
 * been quiet): its next line allocates again.
 */
void
turn_trim(struct turn *t)
{
	if (t->nmarks != 0)
		return;
	if (t->buf != NULL)
		msg_unref(t->buf);
	t->buf = NULL;
	free(t->marks);
	t->marks = NULL;
	t->nalloc = 0;
}

/* Whether a line of len bytes may join this turn (else flush first). */
int
turn_room(const struct turn *t, size_t len)
{
	if (t->nmarks == 0)
		return (1);
	return (t->nmarks < TURN_LINES && t->buf->len + len <= t->cap);
}

/* Appends a line said by from (NULL: by the server or another node). */
void
turn_add(struct turn *t, struct client *from, const char *data, size_t len)
{
	if (t->buf != NULL && t->buf->len + len > t->cap) {
		/* Only an empty turn gets here (turn_room()): a long line. */
		msg_unref(t->buf);
		t->buf = NULL;
	}
	if (t->buf == NULL) {
		t->cap = len > TURN_BYTES ? len : TURN_BYTES;
		t->buf = msg_new(t->cap);
		t->buf->len = 0;
	}
	memcpy(t->buf->data + t->buf->len, data, len);
	t->buf->len += len;
	if (t->nmarks == t->nalloc) {
		t->nalloc = t->nalloc == 0 ? TURN_MARKS_MIN : t->nalloc * 2;
		if (t->nalloc > TURN_LINES)
			t->nalloc = TURN_LINES;
		t->marks = xrealloc(t->marks, t->nalloc * sizeof *t->marks);
	}
	t->marks[t->nmarks].from = from;
	t->marks[t->nmarks].end = t->buf->len;
	t->nmarks++;
	if (from != NULL)
		from->said_gen = t->gen;
}

/* c has just joined the room: what was said so far is not for it. */
void
turn_join(struct turn *t, struct client *c)
{
	c->turn_gen = t->gen;
	c->turn_seen = t->nmarks;
}

/*
 * c's part of the turn: the lines after its place, less its own, as
 * iovecs into the turn buffer (valid until the next part is made), and
 * in *lines how many lines that is.  Returns how many iovecs; 0 if there
 * is nothing for c.
 */
int
turn_part(struct turn *t, const struct client *c, struct iovec **iovp,
    unsigned *lines)
{
	unsigned	 i, first;
	size_t		 pos, run;
	int		 n = 0;

	*iovp = turn_iov;
	*lines = 0;
	first = c->turn_gen == t->gen ? c->turn_seen : 0;
	if (first >= t->nmarks)
		return (0);
	run = first == 0 ? 0 : t->marks[first - 1].end;
	*lines = t->nmarks - first;
	if (c->said_gen != t->gen) {
		/* The common case: c said nothing, its part is one run. */
		turn_iov[0].iov_base = t->buf->data + run;
		turn_iov[0].iov_len = t->buf->len - run;
		return (1);
	}
	pos = run;
	for (i = first; i < t->nmarks; i++) {
		if (t->marks[i].from == c) {
			(*lines)--;
			if (pos > run) {
				turn_iov[n].iov_base = t->buf->data + run;
				turn_iov[n].iov_len = pos - run;
				n++;
			}
			run = t->marks[i].end;
		}
		pos = t->marks[i].end;
	}
	if (pos > run) {
		turn_iov[n].iov_base = t->buf->data + run;
		turn_iov[n].iov_len = pos - run;
		n++;
	}
	return (n);
}

/* c has had its part: its place moves to the end of the turn. */
void
turn_seen(struct turn *t, struct client *c)
{
	c->turn_gen = t->gen;
	c->turn_seen = t->nmarks;
}

/* After the flush: everyone has had the turn; the next one starts. */
void
turn_end(struct turn *t)
{
	if (t->nmarks == 0)
		return;
	t->gen++;
	t->nmarks = 0;
	if (t->buf->refs > 1 || t->cap > TURN_BYTES) {
		/*
		 * A slow reader's queue refers to it (it is theirs now), or
		 * it was made for one long line: the next turn makes its own.
		 */
		msg_unref(t->buf);
		t->buf = NULL;
	} else
		t->buf->len = 0;
}
