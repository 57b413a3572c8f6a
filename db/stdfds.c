/* stdfds.c: see stdfds.h. */
#include "stdfds.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int spfdb_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        /* the lowest free number: FD, as those below it are open */
        int n = open("/dev/null", O_RDWR);
        if (n == fd)
            continue;
        if (n >= 0) {
            (void)close(n);
            errno = EBADF;
        }
        return -1;
    }
    return 0;
}
