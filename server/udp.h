/* udp.h: the UDP workers (SPEC §4 "Transport").
 *
 * A UDP worker is a thread with a socket of its own (sockets.h: main.c
 * owns it, the worker borrows it), its read view (view.h) and its counters
 * (stats.h).  It blocks in recvmmsg for a batch, answers the whole batch
 * with one answer_batch() under one snapshot and sends the replies with
 * one sendmmsg, as the kernel's fastest responder does: no event loop, no
 * allocation, one system call in and one out per batch.  Replies leave
 * from the address the query came to (IP_PKTINFO/IPV6_PKTINFO on wildcard
 * addresses).  Send and receive errors are counted, not logged.  While it
 * holds a snapshot it waits with a VIEW_HOLD_MS receive timeout and gives
 * the snapshot up when that expires.
 *
 * udp_new, udp_open, udp_start, udp_join and udp_free run on the main
 * thread; udp_stop on any.  The counters are read only through stats_sum.
 */
#ifndef SPFDB_UDP_H
#define SPFDB_UDP_H

#include "spfdb.h"
#include "stats.h"

struct udp_worker;

/* Worker ID on socket FD (from sock_udp; WILDCARD: bound to a wildcard
 * address).  0 and *OUT, or SPFDB_ENOMEM. */
int udp_new(struct udp_worker **out, unsigned id, int fd, int wildcard);
struct cookie_secrets;
struct rrl;
/* Answer COOKIE options with COOKIES (NULL: ignore them; shared, must
 * outlive U) and limit replies with RRL (NULL: not; U owns and frees it);
 * before udp_start. */
void udp_set_defences(struct udp_worker *u, const struct cookie_secrets *cookies,
                      struct rrl *rrl);
/* Its read view on ENV (view_open).  0 or a negative SPFDB_E* code. */
int udp_open(struct udp_worker *u, spfdb_env *env);
/* Run its loop in a new thread; 0 or an errno value. */
int udp_start(struct udp_worker *u);
/* Ask the loop to stop (any thread), then wait for it. */
void udp_stop(struct udp_worker *u);
void udp_join(struct udp_worker *u);
/* Free U (not its socket); its thread must have ended, if it ran. */
void udp_free(struct udp_worker *u);

const struct stats *udp_stats(const struct udp_worker *u);
/* The zones its view serves (after udp_open, before udp_start). */
unsigned udp_zone_count(const struct udp_worker *u);

#endif
