/*
 * The main() of a Check suite, shared by every tests/check_*.c: run each
 * test of the suite (CK_NORMAL output; CK_FORK and CK_RUN_CASE in the
 * environment apply as usual) and turn the result into the exit status
 * automake reads: EXIT_SUCCESS if no test failed, else EXIT_FAILURE.
 *
 * A static inline function in a header because the unit tests link only
 * the code they test. A unit test has nothing to skip (it needs no
 * program, address or privilege), so this never returns 77; the
 * end-to-end suites, which may skip, use harness_run_suite() instead
 * (tests/harness.h says how skips are reported, and why CI=true fails
 * them).
 */

#ifndef RUN_SUITE_H
#define RUN_SUITE_H

#include <stdlib.h>

#include <check.h>

static inline int
run_suite(Suite *s)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* RUN_SUITE_H */
