/* sample.h: a small transfer zone (docs/transfer-zone.md's example and a
 * few more entries), shared by test_layout and layout_pipe. */
#ifndef SPFDB_TEST_SAMPLE_H
#define SPFDB_TEST_SAMPLE_H

#include "layout.h"

#define SAMPLE_ORIGIN "xfr.esp.example"
#define SAMPLE_SERIAL 1796620000u

/* A whole message into BUF: header (ID 0, QR, AA), the question
 * `<origin> AXFR IN`, then every sample record in order, names in full or
 * (COMPRESS) against the question.  Returns its length, or 0. */
size_t sample_message(uint8_t *buf, size_t cap, int compress);

/* The sample as objects, in the same order: what parsing must return. */
size_t sample_objects(const struct xfr_obj **out);

/* O as one line of text ("entry acme 198.51.100.0/24", "ignore", ...),
 * every field shown: equal texts, equal records. */
void sample_obj_text(const struct xfr_obj *o, char *buf, size_t cap);

#endif
