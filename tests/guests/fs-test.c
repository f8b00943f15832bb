/*
 * virtio-fs end to end: a minimal FUSE client on the first request queue
 * (queue 1; queue 0, high priority, is set up but unused). It negotiates
 * FUSE 7.31, reads hello.txt from the root of the share and creates
 * from-guest.txt there:
 *   fs-test: read "<hello.txt without its trailing newline>"
 *   fs-test: wrote 21 bytes
 *   fs-test: tag <the config space's tag>
 *   fs-test: done
 * A FUSE error prints `fs-test: <OP> failed: errno <n>` and exits 1.
 *
 * Each request is one chain (virtio 1.2 §5.11.6), the layout Linux uses:
 *   readable:  fuse_in_header | op arguments | name or write data
 *   writable:  fuse_out_header | reply
 */
#include "rt.h"
#include "virtio.h"

#define VIRTIO_ID_FS 26
#define QUEUE_SIZE 16u
#define TAG_BYTES 36u

/* The FUSE wire format (linux/fuse.h), 7.31. */
#define FUSE_KERNEL_VERSION 7u
#define FUSE_KERNEL_MINOR_VERSION 31u
#define FUSE_ROOT_ID 1u

#define FUSE_LOOKUP 1u
#define FUSE_OPEN 14u
#define FUSE_READ 15u
#define FUSE_WRITE 16u
#define FUSE_RELEASE 18u
#define FUSE_INIT 26u
#define FUSE_CREATE 35u

#define O_RDONLY 0u
#define O_WRONLY 01u
#define O_CREAT 0100u
#define O_TRUNC 01000u

struct fuse_in_header {
    uint32_t len; /* the whole request, header included */
    uint32_t opcode;
    uint64_t unique;
    uint64_t nodeid;
    uint32_t uid, gid, pid;
    uint32_t padding;
};

struct fuse_out_header {
    uint32_t len; /* the whole reply, header included */
    int32_t error; /* 0 or a negative errno */
    uint64_t unique;
};

struct fuse_init_in {
    uint32_t major, minor, max_readahead, flags;
};

struct fuse_init_out {
    uint32_t major, minor, max_readahead, flags;
    uint16_t max_background, congestion_threshold;
    uint32_t max_write, time_gran;
    uint16_t max_pages, map_alignment;
    uint32_t unused[8];
};

struct fuse_attr {
    uint64_t ino, size, blocks, atime, mtime, ctime;
    uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev, blksize, padding;
};

struct fuse_entry_out {
    uint64_t nodeid, generation, entry_valid, attr_valid;
    uint32_t entry_valid_nsec, attr_valid_nsec;
    struct fuse_attr attr;
};

struct fuse_open_in {
    uint32_t flags, unused;
};

struct fuse_open_out {
    uint64_t fh;
    uint32_t open_flags, padding;
};

struct fuse_create_in {
    uint32_t flags, mode, umask, padding;
};

struct fuse_create_out { /* CREATE replies with both */
    struct fuse_entry_out entry;
    struct fuse_open_out open;
};

struct fuse_rw_in { /* fuse_read_in and fuse_write_in share this layout */
    uint64_t fh, offset;
    uint32_t size, rw_flags;
    uint64_t lock_owner;
    uint32_t flags, padding;
};

struct fuse_write_out {
    uint32_t size, padding;
};

struct fuse_release_in {
    uint64_t fh;
    uint32_t flags, release_flags;
    uint64_t lock_owner;
};

_Static_assert(sizeof(struct fuse_in_header) == 40, "fuse_in_header");
_Static_assert(sizeof(struct fuse_out_header) == 16, "fuse_out_header");
_Static_assert(sizeof(struct fuse_init_out) == 64, "fuse_init_out");
_Static_assert(sizeof(struct fuse_entry_out) == 128, "fuse_entry_out");
_Static_assert(sizeof(struct fuse_rw_in) == 40, "fuse_read_in / fuse_write_in");
_Static_assert(sizeof(struct fuse_release_in) == 24, "fuse_release_in");

static const char written[] = "written by the guest\n";

static struct virtq hiprio, requests;
static struct fuse_in_header in;
static struct fuse_out_header out;
static uint8_t reply[256];
static uint64_t next_unique = 1;

static void fail(const char *op, const char *what)
{
    rt_puts("fs-test: ");
    rt_puts(op);
    rt_puts(what);
    rt_puts("\n");
    rt_exit(1);
}

/*
 * One request on the request queue: the header, up to two argument parts
 * (a part of length 0 is left out), and room for a reply of at most
 * reply_len bytes. Returns the reply's length; a FUSE error or a reply that
 * does not belong to the request ends the test.
 */
static uint32_t request(const struct virtio_dev *dev, const char *op, uint32_t opcode,
                        uint64_t nodeid, const void *a, uint32_t a_len, const void *b,
                        uint32_t b_len, uint32_t reply_len)
{
    struct virtio_buf bufs[5];
    unsigned n = 0;
    uint32_t used;

    in = (struct fuse_in_header){0};
    in.len = (uint32_t)sizeof in + a_len + b_len;
    in.opcode = opcode;
    in.unique = next_unique++;
    in.nodeid = nodeid;
    out = (struct fuse_out_header){0};

    bufs[n++] = (struct virtio_buf){(uint64_t)(unsigned long)&in, sizeof in, 0};
    if (a_len)
        bufs[n++] = (struct virtio_buf){(uint64_t)(unsigned long)a, a_len, 0};
    if (b_len)
        bufs[n++] = (struct virtio_buf){(uint64_t)(unsigned long)b, b_len, 0};
    bufs[n++] = (struct virtio_buf){(uint64_t)(unsigned long)&out, sizeof out, 1};
    if (reply_len)
        bufs[n++] = (struct virtio_buf){(uint64_t)(unsigned long)reply, reply_len, 1};
    if (virtq_add(&requests, bufs, n, 0) < 0)
        fail(op, ": no free descriptors");
    virtq_kick(dev, &requests);
    virtq_wait(dev, &requests, &used, 0);

    if (used < sizeof out || out.len < sizeof out || out.len > used ||
        out.len > sizeof out + reply_len || out.unique != in.unique)
        fail(op, ": malformed reply");
    if (out.error != 0) {
        rt_puts("fs-test: ");
        rt_puts(op);
        rt_puts(" failed: errno ");
        rt_put_u64((unsigned long long)-(long long)out.error);
        rt_puts("\n");
        rt_exit(1);
    }
    return out.len - (uint32_t)sizeof out;
}

/* Ends the test if a reply is shorter than the struct it must hold. */
static void expect_len(const char *op, uint32_t got, uint32_t want)
{
    if (got < want)
        fail(op, ": short reply");
}

static uint32_t name_len(const char *name)
{
    uint32_t n = 0;
    while (name[n])
        n++;
    return n + 1; /* FUSE names travel NUL-terminated */
}

static void init(const struct virtio_dev *dev)
{
    static struct fuse_init_in arg = {FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION, 0, 0};
    const struct fuse_init_out *r = (const struct fuse_init_out *)reply;
    uint32_t got = request(dev, "INIT", FUSE_INIT, 0, &arg, sizeof arg, 0, 0, sizeof *r);

    expect_len("INIT", got, 8); /* major and minor come first in every version */
    if (r->major != FUSE_KERNEL_VERSION)
        fail("INIT", ": the server does not speak FUSE 7");
}

static uint64_t lookup(const struct virtio_dev *dev, uint64_t parent, const char *name)
{
    const struct fuse_entry_out *r = (const struct fuse_entry_out *)reply;
    uint32_t got = request(dev, "LOOKUP", FUSE_LOOKUP, parent, name, name_len(name), 0, 0, sizeof *r);

    expect_len("LOOKUP", got, sizeof *r);
    return r->nodeid;
}

static uint64_t open_file(const struct virtio_dev *dev, uint64_t nodeid, uint32_t flags)
{
    static struct fuse_open_in arg;
    const struct fuse_open_out *r = (const struct fuse_open_out *)reply;
    uint32_t got;

    arg = (struct fuse_open_in){flags, 0};
    got = request(dev, "OPEN", FUSE_OPEN, nodeid, &arg, sizeof arg, 0, 0, sizeof *r);
    expect_len("OPEN", got, sizeof *r);
    return r->fh;
}

/* The file's first bytes, at most sizeof reply; returns how many arrived (in reply). */
static uint32_t read_file(const struct virtio_dev *dev, uint64_t nodeid, uint64_t fh)
{
    static struct fuse_rw_in arg;

    arg = (struct fuse_rw_in){0};
    arg.fh = fh;
    arg.size = sizeof reply;
    return request(dev, "READ", FUSE_READ, nodeid, &arg, sizeof arg, 0, 0, sizeof reply);
}

static uint32_t write_file(const struct virtio_dev *dev, uint64_t nodeid, uint64_t fh,
                           const void *data, uint32_t len)
{
    static struct fuse_rw_in arg;
    const struct fuse_write_out *r = (const struct fuse_write_out *)reply;
    uint32_t got;

    arg = (struct fuse_rw_in){0};
    arg.fh = fh;
    arg.size = len;
    got = request(dev, "WRITE", FUSE_WRITE, nodeid, &arg, sizeof arg, data, len, sizeof *r);
    expect_len("WRITE", got, sizeof *r);
    return r->size;
}

static void release(const struct virtio_dev *dev, uint64_t nodeid, uint64_t fh)
{
    static struct fuse_release_in arg;

    arg = (struct fuse_release_in){0};
    arg.fh = fh;
    request(dev, "RELEASE", FUSE_RELEASE, nodeid, &arg, sizeof arg, 0, 0, 0);
}

/* Creates and opens name in parent for writing; sets *nodeid, returns the file handle. */
static uint64_t create(const struct virtio_dev *dev, uint64_t parent, const char *name,
                       uint32_t mode, uint64_t *nodeid)
{
    static struct fuse_create_in arg;
    const struct fuse_create_out *r = (const struct fuse_create_out *)reply;
    uint32_t got;

    arg = (struct fuse_create_in){O_WRONLY | O_CREAT | O_TRUNC, mode, 0, 0};
    got = request(dev, "CREATE", FUSE_CREATE, parent, &arg, sizeof arg, name, name_len(name),
                  sizeof *r);
    expect_len("CREATE", got, sizeof *r);
    *nodeid = r->entry.nodeid;
    return r->open.fh;
}

static void print_tag(const struct virtio_dev *dev)
{
    unsigned i;

    rt_puts("fs-test: tag ");
    for (i = 0; i < TAG_BYTES; i++) {
        char c = (char)virtio_config8(dev, i);
        if (!c)
            break;
        rt_putc(c >= 0x20 && c < 0x7f ? c : '?');
    }
    rt_puts("\n");
}

int main(const void *dtb)
{
    struct virtio_dev dev;
    struct virtq *queues[] = {&hiprio, &requests}; /* queue 0, queue 1 */
    uint64_t node, fh;
    uint32_t n, i;
    int err;

    if (virtio_find(dtb, VIRTIO_ID_FS, 0, &dev) != 0) {
        rt_puts("fs-test: no virtio-fs device\n");
        return 1;
    }
    err = virtio_init(&dev, VIRTIO_F_VERSION_1, queues, 2, QUEUE_SIZE);
    if (err) {
        rt_puts("fs-test: init: ");
        rt_puts(virtio_strerror(err));
        rt_puts("\n");
        return 1;
    }
    if (virtio_config32(&dev, TAG_BYTES) < 1) {
        rt_puts("fs-test: the device has no request queue\n");
        return 1;
    }

    init(&dev);

    node = lookup(&dev, FUSE_ROOT_ID, "hello.txt");
    fh = open_file(&dev, node, O_RDONLY);
    n = read_file(&dev, node, fh);
    release(&dev, node, fh);
    if (n && reply[n - 1] == '\n')
        n--;
    rt_puts("fs-test: read \"");
    for (i = 0; i < n; i++)
        rt_putc(reply[i] >= 0x20 && reply[i] < 0x7f ? (char)reply[i] : '?');
    rt_puts("\"\n");

    fh = create(&dev, FUSE_ROOT_ID, "from-guest.txt", 0644, &node);
    n = write_file(&dev, node, fh, written, sizeof written - 1);
    release(&dev, node, fh);
    if (n != sizeof written - 1)
        fail("WRITE", ": short write");
    rt_puts("fs-test: wrote ");
    rt_put_u64(n);
    rt_puts(" bytes\n");

    print_tag(&dev);
    rt_puts("fs-test: done\n");
    virtio_reset(&dev);
    return 0;
}
