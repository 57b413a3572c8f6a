/* tcpframe.h: one TCP connection's input, as DNS messages (RFC 7766 §8,
 * SPEC §4 Transport).  Pure: no sockets, no clock, no libevent; tcp.c
 * drives it, the unit tests and the fuzz target check it.
 *
 * Octets go in as reads return them (tcpframe_feed); complete messages
 * come out whole, in arrival order, whatever sizes the reads had
 * (tcpframe_next, then tcpframe_drop once one is answered).  Each message
 * has a two-octet big-endian length before it; a length of 0, or over the
 * frame's MAX, is an error the caller answers by closing the connection.
 *
 * Bounds.  A message is 1..MAX octets.  The caller feeds only when
 * tcpframe_next says TCPFRAME_MORE (tcp.c reads only then: replies that
 * wait stop its reads), at most READ octets at a time, so the frame holds
 * at most MAX + 1 (the start of one message) + READ octets; a feed beyond
 * that is refused (TCPFRAME_EFULL) rather than grown.  Pointers it returns
 * stay within what it holds and are valid until the next feed or drop.
 *
 * Deadlines (SPEC §4: idle timeout; 2 s for a started message, and for
 * replies that stop moving).  After each read or drained write the caller
 * asks tcpframe_touch which timer the connection runs.  A message's 2 s
 * start when its first octet arrives and are not restarted by the rest of
 * it (a client trickling one octet at a time gets no more time).
 *
 * Memory: the buffer is allocated as octets arrive and freed once all are
 * taken, so an idle connection holds none.  One frame per connection, used
 * by one thread.
 */
#ifndef SPFDB_TCPFRAME_H
#define SPFDB_TCPFRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
    TCPFRAME_MORE = 0,      /* next: no complete message held */
    TCPFRAME_MSG = 1,       /* next: a complete message */
    TCPFRAME_EBADLEN = -1,  /* next: the message's length is 0 or over MAX */
    TCPFRAME_EFULL = -2,    /* feed: more than the bound; nothing taken */
    TCPFRAME_ENOMEM = -3    /* feed: no memory; nothing taken */
};

/* tcpframe_touch's verdict: the timer the connection runs from now. */
enum tcpframe_timer {
    TCPFRAME_KEEP,     /* the running 2 s stand: the same message, still incomplete */
    TCPFRAME_IDLE,     /* (re)start the idle timeout: nothing held, nothing owed */
    TCPFRAME_DEADLINE  /* (re)start the 2 s: a message began, or replies wait */
};

struct tcpframe {
    uint8_t *buf;           /* NULL when nothing is held */
    size_t cap;             /* allocated octets */
    size_t off, len;        /* held: buf[off .. off + len) */
    size_t max;             /* longest message */
    size_t hold;            /* most octets held: max + 1 + read */
    unsigned partial : 1;   /* a message's 2 s run (not idle, for the cap) */
    unsigned took : 1;      /* a message was dropped since the last touch */
};

/* An empty frame for messages of at most MAX octets (1..65535), fed at
 * most READ octets at a time.  Allocates nothing. */
void tcpframe_init(struct tcpframe *f, size_t max, size_t read);
/* Free what F holds; F is empty again (and may be fed). */
void tcpframe_free(struct tcpframe *f);

/* Append P[0..N) (N <= READ).  0, TCPFRAME_EFULL or TCPFRAME_ENOMEM. */
int tcpframe_feed(struct tcpframe *f, const uint8_t *p, size_t n);
/* The first message held: TCPFRAME_MSG with *MSG and *LEN (the message
 * without its length), TCPFRAME_MORE, or TCPFRAME_EBADLEN (sticky until
 * the octets are dropped: the caller closes). */
int tcpframe_next(const struct tcpframe *f, const uint8_t **msg, size_t *len);
/* Remove the message tcpframe_next just returned. */
void tcpframe_drop(struct tcpframe *f);

/* The octets held, the first message's length first (for handing the
 * connection on): *N of them, or NULL when N is 0. */
const uint8_t *tcpframe_held(const struct tcpframe *f, size_t *n);

/* After activity: which timer to run.  WRITING: replies wait for the
 * socket (their 2 s run; no message's do).  Else nothing held: idle; a
 * message dropped since the last touch, or none was running: the 2 s of
 * the message now begun restart; otherwise they stand. */
enum tcpframe_timer tcpframe_touch(struct tcpframe *f, int writing);
/* A message's 2 s run: the connection is not idle. */
static inline int tcpframe_partial(const struct tcpframe *f)
{
    return f->partial;
}

#endif
