/* flog.c: spfdb-follow's log lines (flog.h). */
#include "flog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* sd-daemon(3) wants the priority prefix only when stderr really is the
 * journal stream systemd gave us, not a pipe a child inherited it through.
 * Checked per line (lines are rare), so no state is kept. */
static int to_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return 0;
    if (fstat(2, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void vlog(int prio, const char *fmt, va_list ap)
{
    char line[1024];

    vsnprintf(line, sizeof line, fmt, ap);
    if (to_journal())
        fprintf(stderr, "<%d>%s\n", prio, line);
    else
        fprintf(stderr, "spfdb-follow: %s%s\n",
                prio == 3 ? "error: " : prio == 4 ? "warning: " : "", line);
}

void log_err(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(3, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(4, fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(6, fmt, ap);
    va_end(ap);
}
