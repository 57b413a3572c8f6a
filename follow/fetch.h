/* fetch.h: one exchange with a primary over TCP (SPEC §5): a signed SOA
 * query, AXFR or IXFR, its reply read by xfr/in.c into the caller's event
 * function (apply.h's stage_event).
 *
 * Blocking, with deadlines: connecting, and each read or write, may take
 * at most timeout_ms; the whole exchange at most total_ms.  A stop flag
 * (set by a signal handler) is checked whenever poll returns, so SIGTERM
 * ends a transfer at once.  One connection per call, closed before it
 * returns.  Nothing is applied here.  One thread per struct fetch.
 */
#ifndef SPFDB_FOLLOW_FETCH_H
#define SPFDB_FOLLOW_FETCH_H

#include <signal.h>
#include <stdint.h>

#include "in.h"
#include "spfdb.h"

enum {
    FETCH_OK = 0,
    FETCH_ECONNECT = -200, /* could not connect */
    FETCH_ETIMEOUT = -201, /* a deadline passed */
    FETCH_EIO = -202,      /* read or write failed, or the peer closed mid-message */
    FETCH_ESTOP = -203,    /* stopped by a signal */
    FETCH_EXFR = -204,     /* the reply was refused by xfr/in.c: xfr_rc, xfr_detail */
    FETCH_EFRAME = -205    /* a message of length 0 */
};

struct fetch {
    /* in */
    const struct spfdb_addrport *to;
    const struct xfr_origin *origin;
    const struct tsig_key *key;
    uint16_t qtype;          /* XFR_T_SOA, XFR_T_AXFR or XFR_T_IXFR */
    uint32_t serial;         /* IXFR: ours */
    xfr_in_fn fn;            /* the events (NULL for a SOA query) */
    void *arg;
    int timeout_ms, total_ms;
    volatile sig_atomic_t *stop;
    /* out */
    int xfr_rc, xfr_detail;  /* xfr/in.c's result and detail */
    unsigned peer_error;     /* TSIG_EPEER: the peer's TSIG error */
    uint64_t peer_time;      /* ... and its clock, for BADTIME */
    enum xfr_form form;
    struct xfr_soa soa;      /* the reply's first SOA (from BEGIN on) */
    uint64_t bytes, messages;
    char err[256];           /* one line, when not FETCH_OK */
};

/* Run F.  FETCH_OK when the reply was complete and authentic (F->form and
 * F->soa hold it); else a FETCH_E* code with F->err. */
int fetch_run(struct fetch *f);

#endif
