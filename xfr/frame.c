/* frame.c: the record order of a transfer response (frame.h). */
#include "frame.h"

#include "rr.h"

enum { ST_FIRST, ST_SECOND, ST_AXFR, ST_DEL, ST_ADD, ST_END };

void xfr_frame_init(struct xfr_frame *f, uint16_t qtype, uint32_t client)
{
    f->qtype = qtype;
    f->state = ST_FIRST;
    f->form = XFR_FORM_NONE;
    f->client = client;
    f->serial = f->from = f->to = 0;
}

static int first(struct xfr_frame *f, int is_soa, uint32_t serial)
{
    if (!is_soa)
        return XFR_FRAME_ENOTSOA;
    f->serial = serial;
    if (f->qtype == XFR_T_AXFR) {
        f->form = XFR_FORM_AXFR;
        f->state = ST_AXFR;
        return XFR_F_BEGIN;
    }
    if (f->qtype == XFR_T_IXFR && xfr_serial_gt(serial, f->client)) {
        f->state = ST_SECOND; /* the next record decides */
        return 0;
    }
    f->form = f->qtype == XFR_T_IXFR && serial == f->client ? XFR_FORM_CURRENT : XFR_FORM_SOA;
    f->state = ST_END;
    return XFR_F_BEGIN | XFR_F_END;
}

/* After an IXFR's first SOA: the client's serial opens a sequence;
 * anything else is the AXFR form, which S itself closes at once. */
static int second(struct xfr_frame *f, int is_soa, uint32_t serial)
{
    if (is_soa && serial == f->client) {
        f->form = XFR_FORM_IXFR;
        f->from = serial;
        f->state = ST_DEL;
        return XFR_F_BEGIN | XFR_F_SEQ;
    }
    if (is_soa && serial != f->serial)
        return XFR_FRAME_ECHAIN;
    f->form = XFR_FORM_AXFR;
    f->state = is_soa ? ST_END : ST_AXFR;
    return XFR_F_BEGIN | (is_soa ? XFR_F_END : XFR_F_ADD);
}

int xfr_frame_step(struct xfr_frame *f, int is_soa, uint32_t serial)
{
    switch (f->state) {
    case ST_FIRST:
        return first(f, is_soa, serial);
    case ST_SECOND:
        return second(f, is_soa, serial);
    case ST_AXFR:
        if (!is_soa)
            return XFR_F_ADD;
        if (serial != f->serial)
            return XFR_FRAME_ECHAIN;
        f->state = ST_END;
        return XFR_F_END;
    case ST_DEL:
        if (!is_soa)
            return XFR_F_DEL;
        if (!xfr_serial_gt(serial, f->from))
            return XFR_FRAME_ECHAIN;
        f->to = serial;
        f->state = ST_ADD;
        return XFR_F_ADDS;
    case ST_ADD:
        if (!is_soa)
            return XFR_F_ADD;
        if (serial != f->to)
            return XFR_FRAME_ECHAIN;
        if (serial == f->serial) {
            f->state = ST_END;
            return XFR_F_SEQ_END | XFR_F_END;
        }
        f->from = serial;
        f->state = ST_DEL;
        return XFR_F_SEQ_END | XFR_F_SEQ;
    default:
        return XFR_FRAME_EAFTER;
    }
}

int xfr_frame_done(const struct xfr_frame *f)
{
    return f->state == ST_END;
}

const char *xfr_frame_strerror(int err)
{
    static const char *const errors[] = {
        [-XFR_FRAME_ENOTSOA] = "the first record is not the zone's SOA",
        [-XFR_FRAME_ECHAIN] = "an SOA out of the transfer's chain",
        [-XFR_FRAME_EAFTER] = "a record after the closing SOA",
    };

    return xfr_errtext(errors, sizeof errors / sizeof errors[0], err);
}
