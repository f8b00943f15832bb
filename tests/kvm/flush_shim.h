/*
 * The page the FLUSH shim (flush_shim.c) shares with durability_test.cpp:
 * a file both map, named to the shim by STRATA_FLUSH_SHIM. Every field is
 * read and written with atomic accesses (C: __atomic builtins; C++:
 * std::atomic_ref).
 */
#ifndef STRATA_TESTS_KVM_FLUSH_SHIM_H
#define STRATA_TESTS_KVM_FLUSH_SHIM_H

#include <stdint.h>

struct flush_shim_page {
    uint32_t hold;      /* the test: while non-zero, calls wait (for at most 20 s) before the kernel sees them */
    uint32_t entered;   /* fdatasync()/fsync() calls made */
    uint32_t returned;  /* ... and returned from the kernel */
    int32_t last_fd;    /* the fd of the latest call */
    int32_t last_result; /* its return value, or -errno */
};

#endif
