/* text.h: private to the text library (prefix.c, names.c, rules.c).
 * Parsers report a bad token with a one-line reason. */
#ifndef SPFDB_TEXT_H
#define SPFDB_TEXT_H

#include <stddef.h>

#include "errors.h"

/* Format the reason into MSG (when not NULL) and return SPFDB_EINVAL. */
int spfdb_text_fail(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
