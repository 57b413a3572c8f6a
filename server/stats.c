/* stats.c: the query-type table and the one sum.  See stats.h. */
#include "stats.h"

#include <string.h>

const uint8_t stats_qt_of[256] = {
    [1] = QT_A ^ QT_OTHER,   [28] = QT_AAAA ^ QT_OTHER, [255] = QT_ANY ^ QT_OTHER,
    [6] = QT_SOA ^ QT_OTHER, [2] = QT_NS ^ QT_OTHER,    [16] = QT_TXT ^ QT_OTHER
};

void stats_sum(const struct stats *const *each, unsigned n, struct stats *total)
{
    enum { WORDS = sizeof *total / sizeof(uint64_t) };
    _Static_assert(sizeof *total % sizeof(uint64_t) == 0, "struct stats holds only uint64_t");
    uint64_t sum[WORDS] = { 0 };

    for (unsigned i = 0; i < n; i++) {
        const uint64_t *word = (const uint64_t *)each[i];
        for (unsigned k = 0; k < WORDS; k++)
            sum[k] += __atomic_load_n(&word[k], __ATOMIC_RELAXED);
    }
    memcpy(total, sum, sizeof sum);
}
