/* flog.h: spfdb-follow's log lines, on stderr, one stdio call each: under
 * systemd (stderr is $JOURNAL_STREAM) with the sd-daemon priority prefix,
 * otherwise with "spfdb-follow: " and "error: " or "warning: ". */
#ifndef SPFDB_FOLLOW_FLOG_H
#define SPFDB_FOLLOW_FLOG_H

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
