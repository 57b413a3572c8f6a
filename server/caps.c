/* caps.c: give up every capability (caps.h). */
#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int caps_drop(char *err, size_t cap)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

    /* Ambient first: a later execve must not bring them back.  EINVAL:
     * a kernel older than 4.3 has no ambient set. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
        snprintf(err, cap, "cannot clear the ambient capabilities: %s", strerror(errno));
        return -1;
    }
    memset(d, 0, sizeof d);
    if (syscall(SYS_capset, &h, d) != 0) {
        snprintf(err, cap, "cannot drop capabilities: %s", strerror(errno));
        return -1;
    }
    /* Check what the kernel holds now, not what was asked. */
    if (syscall(SYS_capget, &h, d) != 0) {
        snprintf(err, cap, "cannot read capabilities: %s", strerror(errno));
        return -1;
    }
    for (unsigned i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
        if (d[i].effective || d[i].permitted || d[i].inheritable) {
            snprintf(err, cap, "capabilities still held after dropping them");
            return -1;
        }
    return 0;
}
