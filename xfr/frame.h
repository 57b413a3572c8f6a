/* frame.h: the order of the records of a transfer response, one rule
 * for the producer (out.c keeps to it) and the reader (in.c detects the
 * form with it and checks the chain):
 *
 *   single SOA   SOA(S)                  SOA query; IXFR from S or newer
 *   AXFR form    SOA(S) records... SOA(S)                  (RFC 5936 §2.2)
 *   IXFR form    SOA(S) [SOA(old) deletions SOA(new) additions]... SOA(S)
 *                                                          (RFC 1995 §4)
 *
 * In the IXFR form the first old serial is the client's, each old serial
 * is the previous new one, each new serial is newer than its old (RFC
 * 1982), and the last new serial is S.  An IXFR whose second record is
 * not an SOA is in AXFR form (servers answer so when their journal is
 * short); an IXFR whose first serial is not newer than the client's is
 * the single SOA.
 *
 * Pure and tiny: a struct xfr_frame per response, no allocation.
 */
#ifndef SPFDB_XFR_FRAME_H
#define SPFDB_XFR_FRAME_H

#include <stdint.h>

enum xfr_form {
    XFR_FORM_NONE = 0, /* not known yet */
    XFR_FORM_CURRENT,  /* IXFR answered with the client's own serial: up to date */
    XFR_FORM_SOA,      /* any other single SOA: a SOA query's answer, an older server */
    XFR_FORM_AXFR,
    XFR_FORM_IXFR
};

/* What a record is, as bits of xfr_frame_step's result, in this order: */
enum {
    XFR_F_BEGIN = 1,   /* the form is known from this record on */
    XFR_F_SEQ_END = 2, /* the difference sequence before this SOA ended */
    XFR_F_SEQ = 4,     /* this SOA opens a sequence (its old serial: f->from) */
    XFR_F_ADDS = 8,    /* this SOA ends the deletions (its new serial: f->to) */
    XFR_F_DEL = 16,    /* a record deleted */
    XFR_F_ADD = 32,    /* a record added (in the AXFR form, every record) */
    XFR_F_END = 64     /* the response is complete */
};

/* Errors (negative results). */
enum {
    XFR_FRAME_ENOTSOA = -1, /* the first record is not the zone's SOA */
    XFR_FRAME_ECHAIN = -2,  /* an SOA out of place: a broken chain, an AXFR's other serial */
    XFR_FRAME_EAFTER = -3   /* a record after the closing SOA */
};

struct xfr_frame {
    uint16_t qtype;      /* what was asked: XFR_T_SOA, XFR_T_AXFR or XFR_T_IXFR */
    uint8_t state;       /* private */
    enum xfr_form form;
    uint32_t client;     /* IXFR: the client's serial */
    uint32_t serial;     /* S, the first SOA's */
    uint32_t from, to;   /* IXFR: the current sequence's serials */
};

/* For a response to QTYPE (CLIENT: the serial an IXFR asked from). */
void xfr_frame_init(struct xfr_frame *f, uint16_t qtype, uint32_t client);

/* The next answer record: IS_SOA when it is the zone's SOA, with SERIAL.
 * Returns XFR_F_* bits (0 for the first SOA of an IXFR, whose form the
 * next record decides) or an XFR_FRAME_E* code; F is unchanged on an
 * error. */
int xfr_frame_step(struct xfr_frame *f, int is_soa, uint32_t serial);

/* The closing record has been stepped over. */
int xfr_frame_done(const struct xfr_frame *f);

const char *xfr_frame_strerror(int err);

#endif
