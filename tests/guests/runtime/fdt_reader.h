/*
 * A minimal, bounds-checked flattened-device-tree reader for the test guests.
 *
 * Written independently of libfdt so that the guests carry no third-party
 * code, and so that a unit test can compile this same file on the host and
 * hold it against libfdt: two readers that agree on hostile blobs are a
 * check on strata's DTB generator that neither gives alone. Pure freestanding
 * C11 with no libc calls and no architecture code, so x86_64 and aarch64
 * guests share it.
 *
 * Trust model: fdtr_check() is the only function that knows how big the
 * buffer really is. Call it first; every other function re-validates the
 * header against its own totalsize and never reads outside [fdt, fdt +
 * totalsize), so a corrupt blob yields NULL / 0 / negative, never a wild read.
 */
#ifndef STRATA_GUEST_FDT_READER_H
#define STRATA_GUEST_FDT_READER_H

#ifdef __cplusplus
extern "C" {
#endif

/* Header magic, and the versions this reader understands. */
#define FDTR_MAGIC 0xd00dfeedu
#define FDTR_MIN_VERSION 16u
#define FDTR_MAX_COMPAT_VERSION 17u

/* Negative results. */
#define FDTR_ERR_TRUNCATED (-1) /* buffer smaller than the header says */
#define FDTR_ERR_MAGIC (-2)
#define FDTR_ERR_VERSION (-3)
#define FDTR_ERR_LAYOUT (-4)    /* a block lies outside totalsize or is misaligned */
#define FDTR_ERR_STRUCTURE (-5) /* bad token stream */
#define FDTR_ERR_NOTFOUND (-6)

unsigned fdtr_be32(const void *p);
unsigned long long fdtr_be64(const void *p);

/* 0 if the header is sane for a buffer of max_size bytes, else FDTR_ERR_*. */
int fdtr_check(const void *fdt, unsigned long max_size);

/*
 * /chosen/bootargs, or NULL if absent or not a NUL-terminated string.
 * An empty bootargs property gives "".
 */
const char *fdtr_bootargs(const void *fdt);

/*
 * Memory banks: every `reg` entry of each node directly under the root whose
 * device_type is "memory" or whose name is "memory" / "memory@...", skipping
 * nodes with a status other than "okay"/"ok" and entries of size 0. Cell
 * counts come from the root's #address-cells / #size-cells (default 2 / 1);
 * counts above 2 cannot be represented and give no banks.
 */
unsigned long long fdtr_memory_total(const void *fdt); /* saturates, 0 on error */
/* Stores at most max banks; returns how many it stored, or negative on error. */
int fdtr_memory_banks(const void *fdt, unsigned long long *bases, unsigned long long *sizes,
                      int max);

/* Children of /cpus named "cpu" or "cpu@..."; 0 without /cpus, negative on error. */
int fdtr_cpu_count(const void *fdt);

/*
 * Property `name` of the node at absolute `path` ("/", "/chosen",
 * "/cpus/cpu@1"). Node names match as in libfdt: exactly, or, for a
 * component without '@', the first node named "component@...". Sets *len
 * (if len is not NULL) to the value's length; NULL if anything is missing.
 */
const void *fdtr_getprop(const void *fdt, const char *path, const char *name, int *len);

/*
 * Lower-level walk, offsets as in libfdt (the offset of a node's
 * FDT_BEGIN_NODE token within the structure block); negative on error.
 */
int fdtr_path_offset(const void *fdt, const char *path);
int fdtr_first_subnode(const void *fdt, int node);
int fdtr_next_subnode(const void *fdt, int node);
const char *fdtr_node_name(const void *fdt, int node);
const void *fdtr_node_getprop(const void *fdt, int node, const char *name, int *len);
/* 1 when the stringlist property `name` of node (e.g. compatible, status)
 * holds the string want, else 0 (also for a list that is not NUL-terminated). */
int fdtr_node_has_string(const void *fdt, int node, const char *name, const char *want);

#ifdef __cplusplus
}
#endif

#endif
