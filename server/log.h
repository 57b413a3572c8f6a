/* log.h: spfdbd's and spfdb-follow's log lines, on stderr.
 *
 * One line per call, written with one stdio call, so lines from different
 * threads never interleave.  Under systemd (stderr is the journal stream
 * named by $JOURNAL_STREAM) each line starts with its sd-daemon priority
 * ("<3>", "<4>", "<6>"); otherwise with the program's name (LOG_PROGRAM at
 * build, "spfdbd" by default), ": " and "error: " or
 * "warning: ".  Nothing is logged per query: the query path counts, and
 * repeated failures go through a caller-owned struct log_limit.
 */
#ifndef SPFDB_LOG_H
#define SPFDB_LOG_H

#include <stdint.h>
#include <time.h>

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* At most one line per INTERVAL seconds for one kind of event. */
struct log_limit {
    time_t next;          /* no line before this time */
    uint64_t logged;      /* event count at the last line */
};

/* 1 when a line about COUNT events may be written at NOW (and records it),
 * 0 when it is too soon or nothing new happened. */
int log_limit_ok(struct log_limit *l, time_t now, unsigned interval, uint64_t count);

#endif
