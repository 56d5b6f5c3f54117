// libnl 3 (libnl-3-dev, libnl-route-3-dev, libnl-genl-3-dev) for the Netlink module.
// The include path (/usr/include/libnl3) comes from pkg-config libnl-route-3.0.
#include <sys/socket.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <linux/neighbour.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/neighbour.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

// setns(2) for CLONE_NEWNET: glibc declares it only under _GNU_SOURCE, which Swift's Glibc
// module is not built with.
extern int setns(int fd, int nstype);
static inline int kdp_setns_net(int fd) { return setns(fd, 0x40000000 /* CLONE_NEWNET */); }

// renameat2(2) with RENAME_NOREPLACE, for writing snapshot directories: a rename that fails
// (EEXIST) rather than replace a directory that appeared meanwhile. Declared here for the same
// reason as setns.
extern int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
static inline int kdp_rename_noreplace(const char *from, const char *to) {
    return renameat2(-100 /* AT_FDCWD */, from, -100, to, 1 /* RENAME_NOREPLACE */);
}

// Creating and removing named network namespaces as `ip netns add/del` do (iproute2's
// netns_add): unshare(CLONE_NEWNET) on one thread, then bind-mount its namespace file onto
// /run/netns/NAME. Declared here for the same reason as setns.
#include <sys/mount.h>
extern int unshare(int flags);
static inline int kdp_unshare_net(void) { return unshare(0x40000000 /* CLONE_NEWNET */); }
static inline int kdp_bind_mount(const char *from, const char *to) { return mount(from, to, "none", MS_BIND, 0); }
static inline int kdp_make_shared(const char *dir) { return mount("", dir, "none", MS_SHARED | MS_REC, 0); }
static inline int kdp_bind_self(const char *dir) { return mount(dir, dir, "none", MS_BIND | MS_REC, 0); }
static inline int kdp_detach(const char *path) { return umount2(path, MNT_DETACH); }
