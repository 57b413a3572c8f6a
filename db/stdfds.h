/* stdfds.h: make sure descriptors 0, 1 and 2 are open (SPEC §3).
 *
 * A program started with one of them closed would hand that number to the
 * next file it opens: LMDB's data.mdb or lock.mdb, or a socket, and its
 * output or log lines would then be written there.  Both programs call
 * spfdb_std_fds() first thing in main, before they open anything.  Not
 * thread-safe (it is meant to run before any thread starts). */
#ifndef SPFDB_STDFDS_H
#define SPFDB_STDFDS_H

/* Opens /dev/null (read-write) on each of 0, 1, 2 that is closed: 0, or -1
 * with errno set (then the caller reports and exits). */
int spfdb_std_fds(void);

#endif
