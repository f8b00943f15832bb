/*
 * An LD_PRELOAD shim for the FLUSH test (durability_test.cpp), preloaded
 * into strata-dynamic (strata linked dynamically: the static strata binary
 * takes no preload). It wraps fdatasync() and fsync(): each call is counted
 * in a page shared with the test (flush_shim.h), waits while the test holds
 * it, then goes to the kernel, and its return is counted too. So the test
 * can stop the host's sync in the middle and look: what the file holds when
 * the sync starts, and whether the guest was told its FLUSH completed
 * before the sync returned.
 *
 * The page is mapped when the library loads. At call time the shim makes
 * no system call of its own but the wait's 1 ms nanosleep (a busy wait would
 * take one of this machine's two cores from the guest and the test), which
 * every thread class of strata's sandbox may make.
 */
#define _GNU_SOURCE
#include "flush_shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

static struct flush_shim_page *page;
static sync_fn real_fdatasync, real_fsync;

__attribute__((constructor)) static void map_page(void)
{
    const char *path = getenv("STRATA_FLUSH_SHIM");
    int fd;
    void *p;

    real_fdatasync = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
    real_fsync = (sync_fn)dlsym(RTLD_NEXT, "fsync");
    if (!path)
        return;
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    p = mmap(NULL, sizeof *page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p != MAP_FAILED)
        page = p;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int wrapped(sync_fn real, int fd)
{
    int rc;

    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    if (!page)
        return real(fd);
    __atomic_store_n(&page->last_fd, fd, __ATOMIC_RELAXED);
    __atomic_add_fetch(&page->entered, 1, __ATOMIC_SEQ_CST);
    for (double until = now_s() + 20; __atomic_load_n(&page->hold, __ATOMIC_SEQ_CST) && now_s() < until;)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    rc = real(fd);
    __atomic_store_n(&page->last_result, rc == 0 ? 0 : -errno, __ATOMIC_RELAXED);
    __atomic_add_fetch(&page->returned, 1, __ATOMIC_SEQ_CST);
    return rc;
}

int fdatasync(int fd)
{
    return wrapped(real_fdatasync, fd);
}

int fsync(int fd)
{
    return wrapped(real_fsync, fd);
}
