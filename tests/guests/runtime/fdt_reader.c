/*
 * Flattened-device-tree reader for the test guests (see fdt_reader.h).
 *
 * Every read goes through next_tok() or string_at(), which refuse anything
 * past the end of its block, and every walk advances by at least one 4-byte
 * token, so a hostile blob can neither make us read out of bounds nor loop.
 * Bytes are assembled one at a time: the blob may sit at any alignment and
 * on either endianness of host.
 */
#include "fdt_reader.h"

#define TOK_BEGIN_NODE 1u
#define TOK_END_NODE 2u
#define TOK_PROP 3u
#define TOK_NOP 4u
#define TOK_END 9u

#define HDR_V16_SIZE 36u
#define HDR_V17_SIZE 40u
/* Keeps every offset representable as a non-negative int. */
#define MAX_TOTALSIZE 0x7fffffffu

enum hdr_field {
    H_MAGIC,
    H_TOTALSIZE,
    H_OFF_STRUCT,
    H_OFF_STRINGS,
    H_OFF_RSVMAP,
    H_VERSION,
    H_LAST_COMP,
    H_BOOT_CPU,
    H_SIZE_STRINGS,
    H_SIZE_STRUCT,
};

struct blob {
    const unsigned char *s; /* structure block */
    unsigned s_size;
    const unsigned char *str; /* strings block */
    unsigned str_size;
};

unsigned fdtr_be32(const void *p)
{
    const unsigned char *b = p;
    return ((unsigned)b[0] << 24) | ((unsigned)b[1] << 16) | ((unsigned)b[2] << 8) | (unsigned)b[3];
}

unsigned long long fdtr_be64(const void *p)
{
    const unsigned char *b = p;
    return ((unsigned long long)fdtr_be32(b) << 32) | fdtr_be32(b + 4);
}

static unsigned hdr(const unsigned char *b, enum hdr_field f)
{
    return fdtr_be32(b + 4u * (unsigned)f);
}

static int fits(unsigned off, unsigned size, unsigned total)
{
    return off <= total && size <= total - off;
}

static unsigned align4(unsigned x)
{
    return (x + 3u) & ~3u;
}

static int parse_header(const void *fdt, unsigned long max_size, struct blob *bl)
{
    const unsigned char *b = fdt;
    unsigned total, version, hsize, off_struct, size_struct, off_strings, size_strings;

    if (!b || max_size < HDR_V17_SIZE)
        return FDTR_ERR_TRUNCATED;
    if (hdr(b, H_MAGIC) != FDTR_MAGIC)
        return FDTR_ERR_MAGIC;
    version = hdr(b, H_VERSION);
    if (version < FDTR_MIN_VERSION || hdr(b, H_LAST_COMP) > FDTR_MAX_COMPAT_VERSION ||
        version < hdr(b, H_LAST_COMP))
        return FDTR_ERR_VERSION;
    total = hdr(b, H_TOTALSIZE);
    if (total > max_size || total > MAX_TOTALSIZE)
        return FDTR_ERR_TRUNCATED;
    hsize = version >= 17u ? HDR_V17_SIZE : HDR_V16_SIZE;
    if (total < hsize)
        return FDTR_ERR_LAYOUT;

    off_struct = hdr(b, H_OFF_STRUCT);
    off_strings = hdr(b, H_OFF_STRINGS);
    size_strings = hdr(b, H_SIZE_STRINGS);
    if (off_struct < hsize || off_struct > total || off_struct % 4u != 0)
        return FDTR_ERR_LAYOUT;
    /* v16 has no struct size: the block may run to the end of the blob. */
    size_struct = version >= 17u ? hdr(b, H_SIZE_STRUCT) : total - off_struct;
    if (!fits(off_struct, size_struct, total))
        return FDTR_ERR_LAYOUT;
    if (off_strings < hsize || !fits(off_strings, size_strings, total))
        return FDTR_ERR_LAYOUT;
    if (hdr(b, H_OFF_RSVMAP) < hsize || hdr(b, H_OFF_RSVMAP) > total)
        return FDTR_ERR_LAYOUT;

    bl->s = b + off_struct;
    bl->s_size = size_struct;
    bl->str = b + off_strings;
    bl->str_size = size_strings;
    return 0;
}

int fdtr_check(const void *fdt, unsigned long max_size)
{
    struct blob bl;
    return parse_header(fdt, max_size, &bl);
}

/* After fdtr_check, the header's own totalsize is the bound we trust. */
static int open_blob(const void *fdt, struct blob *bl)
{
    return parse_header(fdt, MAX_TOTALSIZE, bl);
}

/* Decodes the token at off: its kind, and where the following token starts. */
static int next_tok(const struct blob *bl, unsigned off, unsigned *tok, unsigned *next)
{
    unsigned n, t;

    if (off % 4u != 0 || !fits(off, 4u, bl->s_size))
        return FDTR_ERR_STRUCTURE;
    t = fdtr_be32(bl->s + off);
    n = off + 4u;
    switch (t) {
    case TOK_BEGIN_NODE:
        while (n < bl->s_size && bl->s[n] != 0)
            n++;
        if (n >= bl->s_size)
            return FDTR_ERR_STRUCTURE;
        n = align4(n + 1u);
        break;
    case TOK_PROP: {
        unsigned len;
        if (!fits(n, 8u, bl->s_size))
            return FDTR_ERR_STRUCTURE;
        len = fdtr_be32(bl->s + n);
        n += 8u;
        if (!fits(n, len, bl->s_size))
            return FDTR_ERR_STRUCTURE;
        n = align4(n + len);
        break;
    }
    case TOK_END_NODE:
    case TOK_NOP:
    case TOK_END:
        break;
    default:
        return FDTR_ERR_STRUCTURE;
    }
    if (n > bl->s_size)
        return FDTR_ERR_STRUCTURE;
    *tok = t;
    *next = n;
    return 0;
}

/* A NUL-terminated string wholly inside the strings block, or NULL. */
static const char *string_at(const struct blob *bl, unsigned off)
{
    unsigned i;
    for (i = off; i < bl->str_size; i++)
        if (bl->str[i] == 0)
            return (const char *)(bl->str + off);
    return 0;
}

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

/* Node name `name` against path component comp[0..len), libfdt's rule. */
static int name_matches(const char *name, const char *comp, unsigned len)
{
    unsigned i;
    int comp_has_at = 0;
    for (i = 0; i < len; i++) {
        if (name[i] != comp[i])
            return 0;
        if (comp[i] == '@')
            comp_has_at = 1;
    }
    return name[len] == 0 || (name[len] == '@' && !comp_has_at);
}

/* "base" or "base@unit". */
static int has_base_name(const char *name, const char *base)
{
    while (*base && *name == *base) {
        name++;
        base++;
    }
    return *base == 0 && (*name == 0 || *name == '@');
}

static int node_body(const struct blob *bl, int node, unsigned *body)
{
    unsigned tok;
    int err;
    if (node < 0)
        return node;
    err = next_tok(bl, (unsigned)node, &tok, body);
    if (err)
        return err;
    return tok == TOK_BEGIN_NODE ? 0 : FDTR_ERR_STRUCTURE;
}

/* From off, skips properties and NOPs to the next child; NOTFOUND at END_NODE. */
static int child_from(const struct blob *bl, unsigned off)
{
    for (;;) {
        unsigned tok, next;
        int err = next_tok(bl, off, &tok, &next);
        if (err)
            return err;
        if (tok == TOK_BEGIN_NODE)
            return (int)off;
        if (tok == TOK_END_NODE)
            return FDTR_ERR_NOTFOUND;
        if (tok == TOK_END)
            return FDTR_ERR_STRUCTURE;
        off = next;
    }
}

static int root_node(const struct blob *bl)
{
    unsigned off = 0;
    for (;;) {
        unsigned tok, next;
        int err = next_tok(bl, off, &tok, &next);
        if (err)
            return err;
        if (tok == TOK_BEGIN_NODE)
            return (int)off;
        if (tok != TOK_NOP)
            return FDTR_ERR_STRUCTURE;
        off = next;
    }
}

static int first_subnode(const struct blob *bl, int node)
{
    unsigned body;
    int err = node_body(bl, node, &body);
    return err ? err : child_from(bl, body);
}

static int next_subnode(const struct blob *bl, int node)
{
    unsigned off, depth = 0, body;
    int err = node_body(bl, node, &body);
    if (err)
        return err;
    off = (unsigned)node;
    for (;;) {
        unsigned tok, next;
        err = next_tok(bl, off, &tok, &next);
        if (err)
            return err;
        off = next;
        if (tok == TOK_BEGIN_NODE) {
            depth++;
        } else if (tok == TOK_END_NODE) {
            if (depth == 0)
                return FDTR_ERR_STRUCTURE;
            if (--depth == 0)
                return child_from(bl, off);
        } else if (tok == TOK_END) {
            return FDTR_ERR_STRUCTURE;
        }
    }
}

static const void *node_getprop(const struct blob *bl, int node, const char *name, int *len)
{
    unsigned off;
    if (node_body(bl, node, &off))
        return 0;
    for (;;) {
        unsigned tok, next;
        if (next_tok(bl, off, &tok, &next))
            return 0;
        if (tok == TOK_PROP) {
            const char *pname = string_at(bl, fdtr_be32(bl->s + off + 8u));
            if (pname && str_eq(pname, name)) {
                if (len)
                    *len = (int)fdtr_be32(bl->s + off + 4u);
                return bl->s + off + 12u;
            }
        } else if (tok != TOK_NOP) {
            return 0; /* properties precede subnodes */
        }
        off = next;
    }
}

static int path_offset(const struct blob *bl, const char *path)
{
    int node;
    if (!path || *path != '/')
        return FDTR_ERR_NOTFOUND;
    node = root_node(bl);
    while (node >= 0) {
        unsigned len = 0;
        int child;
        while (*path == '/')
            path++;
        if (*path == 0)
            return node;
        while (path[len] && path[len] != '/')
            len++;
        for (child = first_subnode(bl, node); child >= 0; child = next_subnode(bl, child))
            if (name_matches((const char *)(bl->s + (unsigned)child + 4u), path, len))
                break;
        node = child;
        path += len;
    }
    return node;
}

/* A property holding exactly the string want (with its NUL). */
static int prop_is(const struct blob *bl, int node, const char *name, const char *want)
{
    int len, i;
    const char *v = node_getprop(bl, node, name, &len);
    if (!v)
        return 0;
    for (i = 0; i < len; i++) {
        if (v[i] != want[i])
            return 0;
        if (want[i] == 0)
            return i == len - 1;
    }
    return 0;
}

/* Root #address-cells / #size-cells; 0 (unusable) if malformed. */
static unsigned root_cells(const struct blob *bl, int root, const char *name, unsigned dflt)
{
    int len;
    const void *v = node_getprop(bl, root, name, &len);
    if (!v)
        return dflt;
    return len == 4 ? fdtr_be32(v) : 0u;
}

static unsigned long long read_cells(const unsigned char *p, unsigned cells)
{
    return cells == 2u ? fdtr_be64(p) : fdtr_be32(p);
}

static int is_memory_node(const struct blob *bl, int node)
{
    int len;
    const char *status = node_getprop(bl, node, "status", &len);
    if (status && !prop_is(bl, node, "status", "okay") && !prop_is(bl, node, "status", "ok"))
        return 0;
    return prop_is(bl, node, "device_type", "memory") ||
           has_base_name((const char *)(bl->s + (unsigned)node + 4u), "memory");
}

/* Stores up to max banks, sums every bank into *total; returns the number stored. */
static int walk_memory(const void *fdt, unsigned long long *bases, unsigned long long *sizes,
                       int max, unsigned long long *total)
{
    struct blob bl;
    unsigned ac, sc;
    int root, node, stored = 0;
    int err = open_blob(fdt, &bl);

    *total = 0;
    if (err)
        return err;
    root = root_node(&bl);
    if (root < 0)
        return root;
    ac = root_cells(&bl, root, "#address-cells", 2u);
    sc = root_cells(&bl, root, "#size-cells", 1u);
    if (ac < 1u || ac > 2u || sc < 1u || sc > 2u)
        return 0;

    for (node = first_subnode(&bl, root); node >= 0; node = next_subnode(&bl, node)) {
        const unsigned char *reg;
        unsigned entry = 4u * (ac + sc), off;
        int len;

        if (!is_memory_node(&bl, node))
            continue;
        reg = node_getprop(&bl, node, "reg", &len);
        if (!reg)
            continue;
        for (off = 0; off + entry <= (unsigned)len; off += entry) {
            unsigned long long base = read_cells(reg + off, ac);
            unsigned long long size = read_cells(reg + off + 4u * ac, sc);
            if (size == 0)
                continue;
            *total = size > ~0ull - *total ? ~0ull : *total + size;
            if (stored < max) {
                bases[stored] = base;
                sizes[stored] = size;
                stored++;
            }
        }
    }
    return node == FDTR_ERR_NOTFOUND ? stored : node;
}

unsigned long long fdtr_memory_total(const void *fdt)
{
    unsigned long long total;
    return walk_memory(fdt, 0, 0, 0, &total) < 0 ? 0 : total;
}

int fdtr_memory_banks(const void *fdt, unsigned long long *bases, unsigned long long *sizes,
                      int max)
{
    unsigned long long total;
    if (!bases || !sizes)
        max = 0;
    return walk_memory(fdt, bases, sizes, max, &total);
}

int fdtr_cpu_count(const void *fdt)
{
    struct blob bl;
    int cpus, node, count = 0;
    int err = open_blob(fdt, &bl);
    if (err)
        return err;
    cpus = path_offset(&bl, "/cpus");
    if (cpus == FDTR_ERR_NOTFOUND)
        return 0;
    for (node = first_subnode(&bl, cpus); node >= 0; node = next_subnode(&bl, node))
        if (has_base_name((const char *)(bl.s + (unsigned)node + 4u), "cpu"))
            count++;
    return node == FDTR_ERR_NOTFOUND ? count : node;
}

const void *fdtr_getprop(const void *fdt, const char *path, const char *name, int *len)
{
    struct blob bl;
    if (open_blob(fdt, &bl) || !name)
        return 0;
    return node_getprop(&bl, path_offset(&bl, path), name, len);
}

const char *fdtr_bootargs(const void *fdt)
{
    int len;
    const char *v = fdtr_getprop(fdt, "/chosen", "bootargs", &len);
    if (!v || len < 1 || v[len - 1] != 0)
        return 0;
    return v;
}

int fdtr_path_offset(const void *fdt, const char *path)
{
    struct blob bl;
    int err = open_blob(fdt, &bl);
    return err ? err : path_offset(&bl, path);
}

int fdtr_first_subnode(const void *fdt, int node)
{
    struct blob bl;
    int err = open_blob(fdt, &bl);
    return err ? err : first_subnode(&bl, node);
}

int fdtr_next_subnode(const void *fdt, int node)
{
    struct blob bl;
    int err = open_blob(fdt, &bl);
    return err ? err : next_subnode(&bl, node);
}

const char *fdtr_node_name(const void *fdt, int node)
{
    struct blob bl;
    unsigned body;
    if (open_blob(fdt, &bl) || node_body(&bl, node, &body))
        return 0;
    return (const char *)(bl.s + (unsigned)node + 4u);
}

const void *fdtr_node_getprop(const void *fdt, int node, const char *name, int *len)
{
    struct blob bl;
    if (open_blob(fdt, &bl) || !name)
        return 0;
    return node_getprop(&bl, node, name, len);
}

int fdtr_node_has_string(const void *fdt, int node, const char *name, const char *want)
{
    int len, at = 0;
    const char *list = fdtr_node_getprop(fdt, node, name, &len);
    while (list && at < len) {
        int end = at;
        while (end < len && list[end])
            end++;
        if (end == len)
            return 0; /* not NUL-terminated */
        if (str_eq(list + at, want))
            return 1;
        at = end + 1;
    }
    return 0;
}
