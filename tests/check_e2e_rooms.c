/*
 * End-to-end tests of rooms (src/room.c, the room commands of src/chat.c):
 * lines stay in the room they were said in (three rooms of three
 * clients), /join and /part with what the old room, the new room and the
 * mover each see, /topic, history per room, secret rooms listed to their
 * members only, max_rooms, configured rooms that outlive their members
 * while others vanish, the room name rule (case-insensitive), /who and
 * /who * with rooms, announce_room_moves both ways, a client moved in the
 * middle of a flood of its own lines, raw mode's single room, and reloads
 * that change the rooms under connected clients.
 *
 * Every test starts its own chatd (rate_lines = 0, so that a flood is not
 * paced, and history = 0 unless the test is about history) and ends with
 * chatd_stop_ok(), so a daemon under valgrind reports in every test.
 *
 * A test keeps a model of who is in which room (struct world) and checks,
 * for every move and every line, the exact next line of every client the
 * model says should hear of it.  Negatives are proved by order, never by
 * silence: a line that must not reach a client is followed by a marker
 * on the same path, and at the end every client sends a command whose
 * answer must be its very next line (w_fence()), so that nothing stray
 * can still be waiting in front of it.  The exact texts come from
 * src/chat.c.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <check.h>

#include "harness.h"

#define W		HARNESS_WAIT_MS
#define TEST_TIMEOUT	120

#define NC		12	/* clients of one test, at most */
#define ROOM_MAX	40	/* a room name as shown, with slack */
#define LOBBY		"#lobby"
#define FENCE		"*** unknown command /fence (try /help)"
#define BAD_ROOM	"*** invalid room name: # and 1 to 32 letters, " \
	"digits, -, _ or ."

/* A history line: "*** [HH:MM] " and the line as it was said. */
#define HIST_RE(text)	"^\\*\\*\\* \\[[0-2][0-9]:[0-5][0-9]\\] " text "$"
/* A /rooms entry: the room, its count and what follows. */
#define ROOMS_RE(room, n, rest) \
	"^\\*\\*\\*   " room " +" #n " here" rest "$"

/* The model ------------------------------------------------------------ */

/* A chatd and its clients, each in the room the model says. */
struct world {
	struct chatd	*d;
	struct tc	*c[NC];
	char		 room[NC][ROOM_MAX];	/* as chatd shows it */
	char		 lobby[ROOM_MAX];	/* the default room */
	int		 n;
	int		 announce;	/* [chat] announce */
	int		 moves;		/* [chat] announce_room_moves */
};

/*
 * Starts chatd with [limits] rate_lines = 0 and [chat] history = 0 and
 * then chat (NULL: nothing more), which may set history again, since the
 * last value of a key wins, and say whether announcements are on.
 */
static void
w_start(struct world *w, const char *chat)
{
	char	*extra;

	memset(w, 0, sizeof *w);
	extra = harness_asprintf("[limits]\nrate_lines = 0\n"
	    "[chat]\nhistory = 0\n%s", chat != NULL ? chat : "");
	w->d = chatd_start(extra);
	free(extra);
	snprintf(w->lobby, sizeof w->lobby, "%s", LOBBY);
	w->announce = chat == NULL || strstr(chat, "announce = no") == NULL;
	w->moves = chat == NULL ||
	    strstr(chat, "announce_room_moves = no") == NULL;
}

static int
w_in(struct world *w, int i, const char *room)
{
	return strcasecmp(w->room[i], room) == 0;
}

/* Every client in room but except (-1: none) gets exactly want next. */
static void
w_room_expect(struct world *w, const char *room, int except,
    const char *want)
{
	int	i;

	for (i = 0; i < w->n; i++) {
		if (i != except && w_in(w, i, room))
			tc_expect_line(w->c[i], want);
	}
}

/*
 * Connects a client, which lands in the default room (those there are
 * told), and names it nick (they are told again).  The default room's
 * history and topic, if any, are the caller's: this wants the nick's
 * confirmation right after the welcome.  Returns its index.
 */
static int
w_add(struct world *w, const char *nick)
{
	struct tc	*c;
	char		 want[256], guest[64];
	int		 i = w->n;

	ck_assert_int_lt(w->n, NC);
	c = tc_connect(w->d);
	snprintf(guest, sizeof guest, "%s", c->name);
	if (w->announce) {
		snprintf(want, sizeof want, "*** %s joined", guest);
		w_room_expect(w, w->lobby, -1, want);
	}
	w->c[i] = c;
	snprintf(w->room[i], sizeof w->room[i], "%s", w->lobby);
	w->n++;
	tc_send(c, "/nick %s\n", nick);
	snprintf(want, sizeof want, "*** you are now known as %s", nick);
	tc_expect_line(c, want);
	tc_rename(c, nick);
	if (w->announce) {
		snprintf(want, sizeof want, "*** %s is now known as %s", guest,
		    nick);
		w_room_expect(w, w->lobby, i, want);
	}
	return i;
}

/* w_start(), then alice, bob and carol in the default room. */
static void
w_start_abc(struct world *w, const char *chat, int *a, int *b, int *c)
{
	w_start(w, chat);
	*a = w_add(w, "alice");
	*b = w_add(w, "bob");
	*c = w_add(w, "carol");
}

/*
 * Client c, connected and checked by the test, is in room from now on:
 * w_fence() and w_stop() see to it.
 */
static void
w_adopt(struct world *w, struct tc *c, const char *room)
{
	ck_assert_int_lt(w->n, NC);
	w->c[w->n] = c;
	snprintf(w->room[w->n], sizeof w->room[w->n], "%s", room);
	w->n++;
}

/*
 * Client i types cmd ("/join #x", "/part"), which moves it to room (as
 * chatd shows it): its old room hears it left (for room, if moves are
 * announced), it is told where it is, and room hears it joined.  Whatever
 * it gets after "*** you are now in ROOM" (topic, history) is the
 * caller's.
 */
static void
w_move(struct world *w, int i, const char *cmd, const char *room)
{
	char	want[256];

	tc_send(w->c[i], "%s\n", cmd);
	if (w->announce) {
		if (w->moves)
			snprintf(want, sizeof want, "*** %s left for %s",
			    w->c[i]->name, room);
		else
			snprintf(want, sizeof want, "*** %s left",
			    w->c[i]->name);
		w_room_expect(w, w->room[i], i, want);
	}
	snprintf(want, sizeof want, "*** you are now in %s", room);
	tc_expect_line(w->c[i], want);
	if (w->announce) {
		snprintf(want, sizeof want, "*** %s joined", w->c[i]->name);
		w_room_expect(w, room, i, want);
	}
	snprintf(w->room[i], sizeof w->room[i], "%s", room);
}

/* /join room, typed as shown. */
static void
w_join(struct world *w, int i, const char *room)
{
	char	cmd[128];

	snprintf(cmd, sizeof cmd, "/join %s", room);
	w_move(w, i, cmd, room);
}

/* Client i says text: everyone else in its room gets it next. */
static void
w_say(struct world *w, int i, const char *text)
{
	char	want[512];

	tc_send(w->c[i], "%s\n", text);
	snprintf(want, sizeof want, "<%s> %s", w->c[i]->name, text);
	w_room_expect(w, w->room[i], i, want);
}

/*
 * Every client's next line is the answer to a command it sends now:
 * nothing it was not told of is waiting for it.  Every line the test
 * sent before has been read by those who should get it, so chatd has
 * handled it, and anything it sent to the wrong client is in front.
 */
static void
w_fence(struct world *w)
{
	int	i;

	for (i = 0; i < w->n; i++) {
		tc_send(w->c[i], "/fence\n");
		tc_expect_line(w->c[i], FENCE);
	}
}

/* Closes every client and stops chatd, which must exit 0. */
static void
w_stop(struct world *w)
{
	int	i;

	for (i = 0; i < w->n; i++)
		tc_close(w->c[i]);
	w->n = 0;
	chatd_stop_ok(w->d);
}

/*
 * Sends /rooms on client i and checks the answer: the header, then one
 * line per entry of want[] (extended regular expressions, NULL-ended),
 * in order, then "*** N rooms".  W_ROOMS() takes the entries as
 * arguments.
 */
#define W_ROOMS(w, i, ...) \
	w_rooms(w, i, (const char *const []){ __VA_ARGS__, NULL })
static void
w_rooms(struct world *w, int i, const char *const want[])
{
	char	end[64];
	int	n;

	tc_send(w->c[i], "/rooms\n");
	tc_expect_line(w->c[i], "*** rooms:");
	for (n = 0; want[n] != NULL; n++)
		tc_expect_line_re(w->c[i], want[n]);
	snprintf(end, sizeof end, "*** %d room%s", n, n == 1 ? "" : "s");
	tc_expect_line(w->c[i], end);
}

/* Lines stay in their room --------------------------------------------- */

/*
 * Three rooms of three clients: every line reaches exactly the two others
 * in its room.  Each line is read by both before the next is sent; then
 * two markers per room, and the fence, show that none went anywhere else.
 */
START_TEST(test_lines_stay_in_their_room)
{
	static const char *const	rooms[] = { "#red", "#green", "#blue" };
	struct world			w;
	char				nick[16], text[128];
	int				i, r, k;

	w_start(&w, NULL);
	for (i = 0; i < 9; i++) {
		snprintf(nick, sizeof nick, "%.1s%d", rooms[i / 3] + 1,
		    i % 3 + 1);
		w_add(&w, nick);
	}
	for (i = 0; i < 9; i++)
		w_join(&w, i, rooms[i / 3]);

	/* Interleaved across the rooms: red, green, blue, red, ... */
	for (k = 0; k < 3; k++) {
		for (r = 0; r < 3; r++) {
			i = r * 3 + k;
			snprintf(text, sizeof text, "line %d of %s", k + 1,
			    w.c[i]->name);
			w_say(&w, i, text);
		}
	}
	for (r = 0; r < 3; r++) {
		w_say(&w, r * 3, "marker one");
		w_say(&w, r * 3 + 1, "marker two");
	}
	w_fence(&w);

	/* The default room, empty now, hears nothing either. */
	i = w_add(&w, "late");
	w_say(&w, 0, "still red only");
	w_fence(&w);
	ck_assert_str_eq(w.room[i], LOBBY);
	w_stop(&w);
}
END_TEST

/* /join and /part --------------------------------------------------------- */

/*
 * /join makes a room and moves there, the old room is told where the
 * mover went and the new one that it joined; /part goes back to the
 * default room; the mistakes are told and move nobody.
 */
START_TEST(test_join_and_part)
{
	struct world	w;
	int		a, b, c;

	w_start_abc(&w, NULL, &a, &b, &c);

	w_join(&w, a, "#dev");
	w_join(&w, b, "#dev");
	w_say(&w, a, "in dev");
	w_say(&w, c, "in the lobby");

	/* Mistakes: told, nobody moves. */
	tc_send(w.c[a], "/join #dev\n");
	tc_expect_line(w.c[a], "*** you are already in #dev");
	tc_send(w.c[a], "/join\n");
	tc_expect_line(w.c[a], "*** usage: /join #ROOM [secret]");
	tc_send(w.c[a], "/join #x y\n");
	tc_expect_line(w.c[a], "*** usage: /join #ROOM [secret]");
	tc_send(w.c[a], "/join #x secret more\n");
	tc_expect_line(w.c[a], "*** usage: /join #ROOM [secret]");
	tc_send(w.c[a], "/part now\n");
	tc_expect_line(w.c[a], "*** usage: /part");
	tc_send(w.c[c], "/part\n");
	tc_expect_line(w.c[c], "*** you are in the default room, #lobby");
	w_say(&w, b, "still in dev");

	/* Spaces around the name do not count. */
	w_move(&w, c, "/join    #ops   ", "#ops");
	/* /part: back to the default room; /join #lobby does the same. */
	w_move(&w, a, "/part", LOBBY);
	w_join(&w, c, LOBBY);
	w_say(&w, a, "back in the lobby");
	w_say(&w, b, "alone in dev");
	w_move(&w, b, "/part", LOBBY);
	w_say(&w, b, "all three");
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* /who lists the room, /who * everyone; /who in one room is as before. */
START_TEST(test_who_in_rooms)
{
	struct world	w;
	int		a, b, c;

	w_start_abc(&w, NULL, &a, &b, &c);

	/* Everyone in the default room: as before rooms. */
	tc_send(w.c[a], "/who\n");
	tc_expect_line(w.c[a], "*** 3 online:");
	tc_expect_line_re(w.c[a], "^\\*\\*\\*   alice .* \\(you\\)$");
	tc_expect_line_re(w.c[a], "^\\*\\*\\*   bob ");
	tc_expect_line_re(w.c[a], "^\\*\\*\\*   carol ");

	w_join(&w, b, "#dev");
	w_join(&w, c, "#dev");
	tc_send(w.c[b], "/who\n");
	tc_expect_line(w.c[b], "*** 2 in #dev:");
	tc_expect_line_re(w.c[b], "^\\*\\*\\*   bob .* \\(you\\)$");
	tc_expect_line_re(w.c[b], "^\\*\\*\\*   carol +on [^(]*$");
	tc_send(w.c[a], "/who\n");
	tc_expect_line(w.c[a], "*** 1 in #lobby:");
	tc_expect_line_re(w.c[a], "^\\*\\*\\*   alice .* \\(you\\)$");

	/* /who *: everyone on the server, names only. */
	tc_send(w.c[a], "/who *\n");
	tc_expect_line(w.c[a], "*** online:");
	tc_expect_line(w.c[a], "***   alice bob carol");
	tc_expect_line(w.c[a], "*** 3 online");
	tc_send(w.c[c], "/who * 2\n");
	tc_expect_line(w.c[c], "*** online:");
	tc_expect_line(w.c[c], "*** 3 online");
	tc_send(w.c[c], "/who * x\n");
	tc_expect_line(w.c[c], "*** usage: /who [*] [PAGE]");
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* Topics --------------------------------------------------------------- */

/*
 * /topic shows, sets and (with "-") clears the room's topic; the room,
 * and only the room, is told; a client joining gets it, /rooms lists it.
 */
START_TEST(test_topic)
{
	struct world	w;
	int		a, b, c;

	w_start_abc(&w, NULL, &a, &b, &c);
	w_join(&w, a, "#dev");
	w_join(&w, b, "#dev");

	tc_send(w.c[a], "/topic\n");
	tc_expect_line(w.c[a], "*** #dev has no topic");
	tc_send(w.c[a], "/topic release on friday\n");
	w_room_expect(&w, "#dev", -1,
	    "*** alice set the topic of #dev: release on friday");
	tc_send(w.c[b], "/topic\n");
	tc_expect_line(w.c[b], "*** topic of #dev: release on friday");
	/* The lobby heard nothing, and has no topic. */
	tc_send(w.c[c], "/topic\n");
	tc_expect_line(w.c[c], "*** #lobby has no topic");

	/* A newcomer gets the topic after where it is. */
	w_join(&w, c, "#dev");
	tc_expect_line(w.c[c], "*** topic of #dev: release on friday");
	W_ROOMS(&w, c,
	    ROOMS_RE("#lobby", 0, ""),
	    ROOMS_RE("#dev", 3, ", topic: release on friday \\(you\\)"));

	/* Sanitised like any line: no control bytes, one space a run. */
	tc_send(w.c[b], "/topic  a\x1b[31m  red\x07 one \n");
	w_room_expect(&w, "#dev", -1, "*** bob set the topic of #dev: a red "
	    "one");
	tc_send(w.c[c], "/topic -\n");
	w_room_expect(&w, "#dev", -1, "*** carol cleared the topic of #dev");
	tc_send(w.c[a], "/topic\n");
	tc_expect_line(w.c[a], "*** #dev has no topic");

	/* A topic goes with its room. */
	tc_send(w.c[a], "/topic short lived\n");
	w_room_expect(&w, "#dev", -1, "*** alice set the topic of #dev: "
	    "short lived");
	w_move(&w, a, "/part", LOBBY);
	w_move(&w, b, "/part", LOBBY);
	w_move(&w, c, "/part", LOBBY);
	w_join(&w, a, "#dev");
	tc_send(w.c[a], "/topic\n");
	tc_expect_line(w.c[a], "*** #dev has no topic");
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* History ------------------------------------------------------------ */

/*
 * Each room keeps its own history: a client joining a room gets that
 * room's recent lines, one coming back to the default room the default
 * room's, and a newcomer the default room's alone.
 */
START_TEST(test_history_per_room)
{
	struct world	w;
	struct tc	*late;
	int		a, b;

	w_start(&w, "history = 3\n");
	a = w_add(&w, "alice");
	b = w_add(&w, "bob");
	w_say(&w, a, "lobby one");
	w_join(&w, b, "#dev");
	/* #dev is new: no history. */
	w_say(&w, b, "dev one");
	w_say(&w, b, "dev two");
	w_say(&w, a, "lobby two");
	w_join(&w, a, "#dev");
	tc_expect_line_re(w.c[a], HIST_RE("<bob> dev one"));
	tc_expect_line_re(w.c[a], HIST_RE("<bob> dev two"));
	w_say(&w, a, "dev three");
	w_say(&w, b, "dev four");

	/* Back in the lobby: its own lines, not #dev's. */
	w_move(&w, b, "/part", LOBBY);
	tc_expect_line_re(w.c[b], HIST_RE("<alice> lobby one"));
	tc_expect_line_re(w.c[b], HIST_RE("<alice> lobby two"));

	/* A newcomer: the lobby's history after the welcome. */
	late = tc_connect(w.d);
	tc_expect_line_re(late, HIST_RE("<alice> lobby one"));
	tc_expect_line_re(late, HIST_RE("<alice> lobby two"));
	tc_expect_line(w.c[b], "*** guest3 joined");

	/* history = 3 per room: #dev keeps its newest three. */
	tc_send(late, "/join #dev\n");
	tc_expect_line(w.c[b], "*** guest3 left for #dev");
	tc_expect_line(late, "*** you are now in #dev");
	tc_expect_line_re(late, HIST_RE("<bob> dev two"));
	tc_expect_line_re(late, HIST_RE("<alice> dev three"));
	tc_expect_line_re(late, HIST_RE("<bob> dev four"));
	tc_expect_line(w.c[a], "*** guest3 joined");
	w_adopt(&w, late, "#dev");
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* /rooms and secret rooms ------------------------------------------------ */

/*
 * /rooms lists every room with its count and topic, the asker's marked;
 * a room made with "/join #x secret" is listed to its members alone, can
 * still be joined by name, and is an ordinary room once made again.
 */
START_TEST(test_secret_room_listed_to_members_only)
{
	struct world	w;
	int		a, b, c;

	w_start_abc(&w, NULL, &a, &b, &c);
	w_join(&w, c, "#open");
	w_move(&w, a, "/join #hide SECRET", "#hide");
	W_ROOMS(&w, a,
	    ROOMS_RE("#lobby", 1, ""),
	    ROOMS_RE("#open", 1, ""),
	    ROOMS_RE("#hide", 1, " \\(you\\)"));
	W_ROOMS(&w, b,
	    ROOMS_RE("#lobby", 1, " \\(you\\)"),
	    ROOMS_RE("#open", 1, ""));
	W_ROOMS(&w, c,
	    ROOMS_RE("#lobby", 1, ""),
	    ROOMS_RE("#open", 1, " \\(you\\)"));

	/* Known by name, it can be joined; its members see it listed. */
	w_join(&w, b, "#hide");
	W_ROOMS(&w, b,
	    ROOMS_RE("#lobby", 0, ""),
	    ROOMS_RE("#open", 1, ""),
	    ROOMS_RE("#hide", 2, " \\(you\\)"));
	/* "secret" on joining a room that exists changes nothing. */
	w_move(&w, a, "/join #open secret", "#open");
	W_ROOMS(&w, c,
	    ROOMS_RE("#lobby", 0, ""),
	    ROOMS_RE("#open", 2, " \\(you\\)"));

	/* Gone with its last member; made again without secret: listed. */
	w_move(&w, b, "/part", LOBBY);
	w_join(&w, b, "#hide");
	W_ROOMS(&w, c,
	    ROOMS_RE("#lobby", 0, ""),
	    ROOMS_RE("#open", 2, " \\(you\\)"),
	    ROOMS_RE("#hide", 1, ""));
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* /rooms is paged by who_max; a bad page is a usage error. */
START_TEST(test_rooms_pages)
{
	struct world	w;
	int		a;

	w_start(&w, "who_max = 2\nrooms = #a #b #c\n");
	a = w_add(&w, "alice");
	tc_send(w.c[a], "/rooms\n");
	tc_expect_line(w.c[a], "*** rooms:");
	tc_expect_line_re(w.c[a], ROOMS_RE("#lobby", 1, " \\(you\\)"));
	tc_expect_line_re(w.c[a], ROOMS_RE("#a", 0, ""));
	tc_expect_line(w.c[a], "*** 4 rooms");
	tc_expect_line(w.c[a], "*** /rooms 2 for more");
	tc_send(w.c[a], "/rooms 2\n");
	tc_expect_line(w.c[a], "*** rooms:");
	tc_expect_line_re(w.c[a], ROOMS_RE("#b", 0, ""));
	tc_expect_line_re(w.c[a], ROOMS_RE("#c", 0, ""));
	tc_expect_line(w.c[a], "*** 4 rooms");
	tc_send(w.c[a], "/rooms 0\n");
	tc_expect_line(w.c[a], "*** usage: /rooms [PAGE]");
	tc_send(w.c[a], "/rooms #a\n");
	tc_expect_line(w.c[a], "*** usage: /rooms [PAGE]");
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* max_rooms and configured rooms ---------------------------------------- */

/*
 * max_rooms counts the default room and the configured ones: past it a
 * new room is refused, with the limit, and nobody moves; an existing room
 * can still be joined; once a room vanishes a new one can be made.
 */
START_TEST(test_max_rooms)
{
	struct world	w;
	int		a, b, c;

	w_start_abc(&w, "rooms = #help\nmax_rooms = 3\n", &a, &b, &c);
	w_join(&w, a, "#one");
	tc_send(w.c[b], "/join #two\n");
	tc_expect_line(w.c[b], "*** no room for #two: there are as many "
	    "rooms as there may be (3); /rooms lists them");
	w_say(&w, b, "still in the lobby");
	w_join(&w, b, "#help");
	w_join(&w, c, "#one");

	/* #one goes when both leave: #two can be made. */
	w_move(&w, a, "/part", LOBBY);
	tc_send(w.c[b], "/join #two\n");
	tc_expect_line_re(w.c[b], "^\\*\\*\\* no room for #two: ");
	w_move(&w, c, "/part", LOBBY);
	w_join(&w, b, "#two");
	tc_send(w.c[a], "/join #three\n");
	tc_expect_line_re(w.c[a], "^\\*\\*\\* no room for #three: ");
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/*
 * Rooms of [chat] rooms are there with nobody in them, and keep their
 * topic and history when the last member leaves; other rooms vanish with
 * their last member, topic and history with them.  A reload that drops a
 * room from the list lets it vanish once empty, and one that keeps it
 * keeps its topic.
 */
START_TEST(test_configured_rooms_never_vanish)
{
	struct world	 w;
	char		*conf;
	int		 a, b;

	w_start(&w, "history = 5\nrooms = #help, #Dev\n");
	a = w_add(&w, "alice");
	b = w_add(&w, "bob");
	W_ROOMS(&w, a,
	    ROOMS_RE("#lobby", 2, " \\(you\\)"),
	    ROOMS_RE("#help", 0, ""),
	    ROOMS_RE("#Dev", 0, ""));
	/* Configured as #Dev, joined as #dev: shown as configured. */
	w_move(&w, a, "/join #dev", "#Dev");
	tc_send(w.c[a], "/topic kept\n");
	tc_expect_line(w.c[a], "*** alice set the topic of #Dev: kept");
	w_say(&w, a, "kept line");
	w_join(&w, a, "#tmp");
	tc_send(w.c[a], "/topic lost\n");
	tc_expect_line(w.c[a], "*** alice set the topic of #tmp: lost");
	w_say(&w, a, "lost line");
	w_move(&w, a, "/part", LOBBY);
	W_ROOMS(&w, b,
	    ROOMS_RE("#lobby", 2, " \\(you\\)"),
	    ROOMS_RE("#help", 0, ""),
	    ROOMS_RE("#Dev", 0, ", topic: kept"));
	w_move(&w, b, "/join #DEV", "#Dev");
	tc_expect_line(w.c[b], "*** topic of #Dev: kept");
	tc_expect_line_re(w.c[b], HIST_RE("<alice> kept line"));
	w_join(&w, b, "#tmp");
	tc_send(w.c[b], "/topic\n");
	tc_expect_line(w.c[b], "*** #tmp has no topic");

	/* A reload that keeps #Dev keeps its topic; #help goes. */
	conf = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %d\n"
	    "[limits]\nrate_lines = 0\n[chat]\nhistory = 5\nrooms = #dev\n",
	    w.d->port);
	free(harness_write_file(w.d->dir, "chatd.conf", conf));
	free(conf);
	chatd_reload(w.d);
	chatd_wait_log(w.d, "configuration reloaded from");
	W_ROOMS(&w, a,
	    ROOMS_RE("#lobby", 1, " \\(you\\)"),
	    ROOMS_RE("#Dev", 0, ", topic: kept"),
	    ROOMS_RE("#tmp", 1, ""));
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* Room names ------------------------------------------------------------ */

/*
 * A room name is '#' and 1 to 32 letters, digits, '-', '_' or '.';
 * anything else is refused with the rule; names differing in case are
 * one room, shown as its maker spelt it.
 */
START_TEST(test_room_names)
{
	static const char *const	bad[] = {
		"#", "lobby", "##a", "#a!b", "#a/b", "#a,b", "#\xc3\xa9t\xc3\xa9",
		"#123456789012345678901234567890123", "@a",
	};
	struct world			w;
	size_t				i;
	int				a, b;

	w_start(&w, NULL);
	a = w_add(&w, "alice");
	b = w_add(&w, "bob");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		tc_send(w.c[a], "/join %s\n", bad[i]);
		tc_expect_line(w.c[a], BAD_ROOM);
	}
	w_say(&w, a, "nobody moved");

	w_join(&w, a, "#a");
	w_join(&w, a, "#12345678901234567890123456789012");
	w_join(&w, a, "#Mixed-Case_1.0");
	/* Same room in any case: joined, shown as made. */
	w_move(&w, b, "/join #mixed-CASE_1.0", "#Mixed-Case_1.0");
	w_say(&w, b, "same room");
	tc_send(w.c[a], "/join #MIXED-case_1.0\n");
	tc_expect_line(w.c[a], "*** you are already in #Mixed-Case_1.0");
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* announce_room_moves, announce ------------------------------------------ */

/* announce_room_moves = yes (the default): the old room hears where. */
START_TEST(test_announce_room_moves_yes)
{
	struct world	w;
	int		a;

	w_start(&w, "announce_room_moves = yes\n");
	a = w_add(&w, "alice");
	w_add(&w, "bob");
	ck_assert(w.moves);
	tc_send(w.c[a], "/join #secretplans\n");
	tc_expect_line(w.c[1], "*** alice left for #secretplans");
	tc_expect_line(w.c[a], "*** you are now in #secretplans");
	tc_send(w.c[a], "/part\n");
	tc_expect_line(w.c[a], "*** you are now in #lobby");
	tc_expect_line(w.c[1], "*** alice joined");
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* announce_room_moves = no: the old room hears only that one left. */
START_TEST(test_announce_room_moves_no)
{
	struct world	w;
	int		a, b;

	w_start(&w, "announce_room_moves = no\n");
	a = w_add(&w, "alice");
	b = w_add(&w, "bob");
	ck_assert(!w.moves);
	tc_send(w.c[a], "/join #secretplans\n");
	tc_expect_line(w.c[b], "*** alice left");
	tc_expect_line(w.c[a], "*** you are now in #secretplans");
	snprintf(w.room[a], sizeof w.room[a], "#secretplans");
	w_join(&w, b, "#secretplans");
	w_move(&w, a, "/part", LOBBY);
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* announce = no: moves are not announced at all, but still happen. */
START_TEST(test_announce_off_moves_silent)
{
	struct world	w;
	int		a, b;

	w_start(&w, "announce = no\n");
	a = w_add(&w, "alice");
	b = w_add(&w, "bob");
	w_join(&w, a, "#quiet");
	w_say(&w, b, "alone");
	w_join(&w, b, "#quiet");
	w_say(&w, a, "together");
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* A move in the middle of a flood ----------------------------------------- */

#define FLOOD	300	/* lines of the mover */

/*
 * The mover sends FLOOD numbered lines in one write, with "/join #new"
 * after the first third and "/part" after the second: the default room's
 * members get exactly the first third, the news it left, its return and
 * the last third; #new's members its arrival, exactly the middle third
 * and its departure; the mover gets where it is, nothing of its own.
 */
START_TEST(test_move_while_flooding)
{
	struct world	 w;
	char		*buf, want[64];
	size_t		 len = 0, size = FLOOD * 16 + 64;
	int		 m, i, j;

	w_start(&w, NULL);
	m = w_add(&w, "mover");
	w_add(&w, "l1");
	w_add(&w, "l2");
	w_add(&w, "n1");
	w_add(&w, "n2");
	w_join(&w, 3, "#new");
	w_join(&w, 4, "#new");

	buf = malloc(size);
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < FLOOD; i++) {
		if (i == FLOOD / 3)
			len += (size_t)snprintf(buf + len, size - len,
			    "/join #new\n");
		if (i == 2 * FLOOD / 3)
			len += (size_t)snprintf(buf + len, size - len,
			    "/part\n");
		len += (size_t)snprintf(buf + len, size - len, "n%03d\n", i);
	}
	tc_send_bytes(w.c[m], buf, len);
	free(buf);

	tc_expect_line(w.c[m], "*** you are now in #new");
	tc_expect_line(w.c[m], "*** you are now in #lobby");
	for (j = 1; j <= 2; j++) {
		for (i = 0; i < FLOOD / 3; i++) {
			snprintf(want, sizeof want, "<mover> n%03d", i);
			tc_expect_line(w.c[j], want);
		}
		tc_expect_line(w.c[j], "*** mover left for #new");
		tc_expect_line(w.c[j], "*** mover joined");
		for (i = 2 * FLOOD / 3; i < FLOOD; i++) {
			snprintf(want, sizeof want, "<mover> n%03d", i);
			tc_expect_line(w.c[j], want);
		}
	}
	for (j = 3; j <= 4; j++) {
		tc_expect_line(w.c[j], "*** mover joined");
		for (i = FLOOD / 3; i < 2 * FLOOD / 3; i++) {
			snprintf(want, sizeof want, "<mover> n%03d", i);
			tc_expect_line(w.c[j], want);
		}
		tc_expect_line(w.c[j], "*** mover left for #lobby");
	}
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/* Raw mode -------------------------------------------------------------- */

/*
 * Raw mode has one room: the room commands are lines like any other,
 * relayed verbatim, and everyone goes on hearing everyone ([chat] rooms
 * is ignored).
 */
START_TEST(test_raw_mode_one_room)
{
	static const char	*lines[] = { "/join #dev", "/join #dev secret",
	    "/part", "/rooms", "/topic raw", "/who *", "after the moves" };
	struct chatd		*d;
	struct tc		*a, *b, *c;
	size_t			 i;

	d = chatd_start("mode = raw\n[chat]\nrooms = #help\nmax_rooms = 2\n");
	a = tc_connect_raw(d, AF_INET);
	b = tc_connect_raw(d, AF_INET);
	c = tc_connect_raw(d, AF_INET);
	tc_rename(a, "a");
	tc_rename(b, "b");
	tc_rename(c, "c");
	tc_send(c, "c is here\n");
	tc_expect_line(a, "c is here");
	tc_expect_line(b, "c is here");
	for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		tc_send(a, "%s\n", lines[i]);
		tc_expect_line(b, lines[i]);
		tc_expect_line(c, lines[i]);
	}
	tc_send(b, "b after\n");
	tc_expect_line(a, "b after");
	tc_expect_line(c, "b after");
	tc_send(c, "marker\n");
	tc_expect_line(a, "marker");
	tc_expect_line(b, "marker");
	tc_close(a);
	tc_close(b);
	tc_close(c);
	chatd_stop_ok(d);
}
END_TEST

/* Reloads under rooms ------------------------------------------------------ */

/*
 * Writes the config chatd_start() writes for w's port, then [limits]
 * rate_lines = 0 and chat under [chat], and reloads.
 */
static void
w_reload(struct world *w, const char *server, const char *chat)
{
	char	*conf;

	conf = harness_asprintf("[server]\nbind = 127.0.0.1\nport = %d\n%s"
	    "[limits]\nrate_lines = 0\n[chat]\nhistory = 0\n%s", w->d->port,
	    server, chat);
	free(harness_write_file(w->d->dir, "chatd.conf", conf));
	free(conf);
	chatd_reload(w->d);
}

/*
 * A reload that names a new default room while max_rooms rooms exist:
 * the default room is made all the same (chatd used to exit, "the
 * default room cannot be made"), newcomers land there, and /part from
 * the old default room, now an ordinary room, goes there too.
 */
START_TEST(test_reload_new_default_room_when_rooms_are_full)
{
	struct world	 w;
	struct tc	*late;
	int		 a, b;

	w_start(&w, "max_rooms = 2\n");
	a = w_add(&w, "alice");
	b = w_add(&w, "bob");
	w_join(&w, b, "#dev");
	w_reload(&w, "", "max_rooms = 2\ndefault_room = #main\n");
	chatd_wait_log(w.d, "configuration reloaded from");

	late = tc_connect(w.d);
	tc_send(late, "/who\n");
	tc_expect_line(late, "*** 1 in #main:");
	tc_expect_line_re(late, "^\\*\\*\\*   guest3 ");
	tc_send(w.c[a], "/part\n");
	tc_expect_line(w.c[a], "*** you are now in #main");
	tc_expect_line(late, "*** alice joined");
	snprintf(w.room[a], sizeof w.room[a], "#main");
	snprintf(w.lobby, sizeof w.lobby, "#main");
	/* #lobby is gone with alice; #main and #dev are the rooms. */
	W_ROOMS(&w, a,
	    ROOMS_RE("#dev", 1, ""),
	    ROOMS_RE("#main", 2, " \\(you\\)"));
	w_adopt(&w, late, "#main");
	w_fence(&w);
	w_stop(&w);
}
END_TEST

/*
 * A reload from chat to raw mode: raw mode has one room, so clients in
 * other rooms are brought back to the default room and hear, and are
 * heard by, everyone.
 */
START_TEST(test_reload_to_raw_mode_makes_one_room)
{
	struct world	w;
	int		a, b, c;

	w_start_abc(&w, NULL, &a, &b, &c);
	w_join(&w, b, "#dev");
	w_join(&w, c, "#ops");
	w_reload(&w, "mode = raw\n", "");
	chatd_wait_log(w.d, "configuration reloaded from");
	tc_send(w.c[a], "from a\n");
	tc_expect_line(w.c[b], "from a");
	tc_expect_line(w.c[c], "from a");
	tc_send(w.c[b], "from b\n");
	tc_expect_line(w.c[a], "from b");
	tc_expect_line(w.c[c], "from b");
	tc_send(w.c[c], "from c\n");
	tc_expect_line(w.c[a], "from c");
	tc_expect_line(w.c[b], "from c");
	tc_close(w.c[a]);
	tc_close(w.c[b]);
	tc_close(w.c[c]);
	w.n = 0;
	chatd_stop_ok(w.d);
}
END_TEST

static Suite *
e2e_rooms_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("e2e_rooms");

	tc = tcase_create("rooms");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_lines_stay_in_their_room);
	tcase_add_test(tc, test_join_and_part);
	tcase_add_test(tc, test_who_in_rooms);
	tcase_add_test(tc, test_topic);
	tcase_add_test(tc, test_history_per_room);
	tcase_add_test(tc, test_move_while_flooding);
	suite_add_tcase(s, tc);

	tc = tcase_create("list");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_secret_room_listed_to_members_only);
	tcase_add_test(tc, test_rooms_pages);
	tcase_add_test(tc, test_max_rooms);
	tcase_add_test(tc, test_configured_rooms_never_vanish);
	tcase_add_test(tc, test_room_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("announce");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_announce_room_moves_yes);
	tcase_add_test(tc, test_announce_room_moves_no);
	tcase_add_test(tc, test_announce_off_moves_silent);
	suite_add_tcase(s, tc);

	tc = tcase_create("modes");
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, test_raw_mode_one_room);
	tcase_add_test(tc, test_reload_new_default_room_when_rooms_are_full);
	tcase_add_test(tc, test_reload_to_raw_mode_makes_one_room);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	return harness_run_suite(e2e_rooms_suite());
}
