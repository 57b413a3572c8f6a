/* text.h: private to spfdb_text (prefix.c, names.c).  Parsers report a
 * bad token with a one-line reason; prefix.h and names.h stay free of
 * spfdb.h, so the error code is repeated here. */
#ifndef SPFDB_TEXT_H
#define SPFDB_TEXT_H

#include <stddef.h>

#define TEXT_EINVAL (-3) /* SPFDB_EINVAL */

/* Format the reason into MSG (when not NULL) and return TEXT_EINVAL. */
int spfdb_text_fail(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
