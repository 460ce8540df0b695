/* Preloaded before libfaketime when the test suite runs under `faketime` (see the Makefile and
 * tests/test_calendar.py). The suite fakes only the wall clock (FAKETIME_DONT_FAKE_MONOTONIC=1): the
 * calendar is what the tests must not depend on. libfaketime 0.9.10 then still rewrites absolute
 * CLOCK_MONOTONIC sleeps, which CPython's time.sleep() makes, into invalid times (EINVAL). This passes
 * clock_nanosleep straight to the kernel, so monotonic sleeps stay real. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request, struct timespec *remain) {
    long rc = syscall(SYS_clock_nanosleep, clock, flags, request, remain);
    return rc == -1 ? errno : 0;
}
