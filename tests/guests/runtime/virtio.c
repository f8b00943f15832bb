/*
 * Polling virtio-mmio driver core (see virtio.h): device discovery in the
 * device tree, the §3.1.1 initialisation sequence, and split-virtqueue
 * bookkeeping. Descriptors are handed out from a private free list; while a
 * chain is in flight the same `link` array holds its links, so freeing a
 * completed chain never trusts anything the device can write.
 */
#include "virtio.h"

#include "fdt_reader.h"
#include "rt.h"

#define FEATURE_RETRIES 3
#define CONFIG_RETRIES 100
#define RESET_TIMEOUT_MS 1000u

const char *virtio_strerror(int err) {
    switch (err) {
    case VIRTIO_ERR_TIMEOUT: return "timed out";
    case VIRTIO_ERR_NEEDS_RESET: return "device needs reset";
    case VIRTIO_ERR_BAD_USED: return "bad used element";
    case VIRTIO_ERR_FEATURES: return "feature negotiation failed";
    case VIRTIO_ERR_QUEUE: return "queue setup failed";
    case VIRTIO_ERR_DEVICE: return "device not responding";
    default: return "unknown error";
    }
}

void virtio_fatal(const char *guest, const char *what, int err) {
    rt_puts(guest);
    rt_puts(": ");
    rt_puts(what);
    if (err) {
        rt_puts(": ");
        rt_puts(virtio_strerror(err));
    }
    rt_puts("\n");
    rt_exit(1);
}

/* ---- registers ---------------------------------------------------------- */

uint32_t virtio_read(const struct virtio_dev *dev, unsigned off) { return rt_mmio_read32(dev->base + off); }

void virtio_write(const struct virtio_dev *dev, unsigned off, uint32_t v) { rt_mmio_write32(dev->base + off, v); }

uint32_t virtio_status(const struct virtio_dev *dev) { return virtio_read(dev, VIRTIO_MMIO_STATUS); }

uint8_t virtio_config8(const struct virtio_dev *dev, unsigned off) {
    return rt_mmio_read8(dev->base + VIRTIO_MMIO_CONFIG + off);
}

uint32_t virtio_config32(const struct virtio_dev *dev, unsigned off) {
    return rt_mmio_read32(dev->base + VIRTIO_MMIO_CONFIG + off);
}

/* Two 32-bit halves, retried until ConfigGeneration is stable (§2.5.1). */
uint64_t virtio_config64(const struct virtio_dev *dev, unsigned off) {
    uint32_t gen, lo, hi;
    int tries = 0;
    do {
        gen = virtio_read(dev, VIRTIO_MMIO_CONFIG_GENERATION);
        lo = virtio_config32(dev, off);
        hi = virtio_config32(dev, off + 4);
    } while (gen != virtio_read(dev, VIRTIO_MMIO_CONFIG_GENERATION) && ++tries < CONFIG_RETRIES);
    return (uint64_t)hi << 32 | lo;
}

/* ---- discovery ---------------------------------------------------------- */

static unsigned root_cells(const void *dtb, const char *name, unsigned dflt) {
    int len;
    const void *p = fdtr_getprop(dtb, "/", name, &len);
    return p && len == 4 ? fdtr_be32(p) : dflt;
}

static unsigned long long read_cells(const unsigned char *p, unsigned cells) {
    return cells == 2 ? fdtr_be64(p) : fdtr_be32(p);
}

/* Reads reg and interrupts of a virtio,mmio node; 0 if usable. */
static int node_window(const void *dtb, int node, struct virtio_dev *dev) {
    unsigned ac = root_cells(dtb, "#address-cells", 2), sc = root_cells(dtb, "#size-cells", 1);
    int len;
    const unsigned char *reg = fdtr_node_getprop(dtb, node, "reg", &len);
    const unsigned char *irq;

    if (!reg || ac < 1 || ac > 2 || sc < 1 || sc > 2 || len < (int)(4 * (ac + sc)))
        return -1;
    dev->base = (unsigned long)read_cells(reg, ac);
    dev->window = read_cells(reg + 4 * ac, sc);
    if (dev->window < VIRTIO_MMIO_CONFIG)
        return -1;
    irq = fdtr_node_getprop(dtb, node, "interrupts", &len);
    dev->irq = irq && len >= 4 ? fdtr_be32(irq) : 0;
    return 0;
}

/* d (its window read) is a working device of the kind asked for: map, probe. */
static int matches(struct virtio_dev *d, unsigned device_id) {
    if (rt_map_mmio(d->base, d->window) != 0 || virtio_read(d, VIRTIO_MMIO_MAGIC) != VIRTIO_MMIO_MAGIC_VALUE ||
        virtio_read(d, VIRTIO_MMIO_VERSION) != 2)
        return 0;
    d->device_id = virtio_read(d, VIRTIO_MMIO_DEVICE_ID);
    return d->device_id != 0 && (device_id == 0 || d->device_id == device_id);
}

/*
 * One field of a virtio_mmio.device value: [s, end) up to `stop` (or the
 * end), a number (rt_parse_u64) with an optional K or M suffix. Returns where
 * the field stops, or NULL if it is no number.
 */
static const char *device_field(const char *s, const char *end, char stop, unsigned long long *out) {
    const char *e = s, *digits_end;
    unsigned shift = 0;

    while (e < end && *e != stop)
        e++;
    digits_end = e;
    if (digits_end > s && (digits_end[-1] | 0x20) == 'k')
        shift = 10, digits_end--;
    else if (digits_end > s && (digits_end[-1] | 0x20) == 'm')
        shift = 20, digits_end--;
    if (rt_parse_u64(s, digits_end, out) != 0)
        return 0;
    *out <<= shift;
    return e;
}

/*
 * Without a DTB: the devices a command line names as Linux's virtio-mmio
 * driver reads them, `virtio_mmio.device=<size>@<base>:<irq>` (QEMU microvm
 * adds one for each transport that has a device), in command-line order.
 */
static int find_on_cmdline(unsigned device_id, unsigned nth, struct virtio_dev *dev) {
    static const char key[] = "virtio_mmio.device";
    unsigned long len;
    unsigned slot = 0;
    const char *v;

    for (v = rt_bootarg(rt_bootargs(0), key, &len); v; v = rt_bootarg(v + len, key, &len)) {
        const char *end = v + len, *p;
        unsigned long long size, base, irq;
        struct virtio_dev d = {0};
        if (!(p = device_field(v, end, '@', &size)) || p == end || !(p = device_field(p + 1, end, ':', &base)) ||
            p == end || !device_field(p + 1, end, ':', &irq))
            continue;
        d.window = size;
        d.base = (unsigned long)base;
        d.irq = (unsigned)irq;
        d.slot = slot++;
        if (d.window < VIRTIO_MMIO_CONFIG || !matches(&d, device_id))
            continue;
        if (nth-- == 0) {
            *dev = d;
            return 0;
        }
    }
    return -1;
}

int virtio_find(const void *dtb, unsigned device_id, unsigned nth, struct virtio_dev *dev) {
    unsigned slot = 0;
    int node;

    if (!dtb)
        return find_on_cmdline(device_id, nth, dev);
    if (fdtr_check(dtb, rt_dtb_room(dtb)) != 0)
        return -1;
    node = fdtr_path_offset(dtb, "/");
    if (node < 0)
        return -1;
    for (node = fdtr_first_subnode(dtb, node); node >= 0; node = fdtr_next_subnode(dtb, node)) {
        struct virtio_dev d = {0};
        if (!fdtr_node_has_string(dtb, node, "compatible", "virtio,mmio"))
            continue;
        d.slot = slot++;
        if (node_window(dtb, node, &d) != 0 || !matches(&d, device_id))
            continue;
        if (nth-- == 0) {
            *dev = d;
            return 0;
        }
    }
    return -1;
}

/* ---- initialisation (§3.1.1) -------------------------------------------- */

int virtio_reset(const struct virtio_dev *dev) {
    unsigned long long deadline = rt_deadline_ms(RESET_TIMEOUT_MS);
    virtio_write(dev, VIRTIO_MMIO_STATUS, 0);
    while (virtio_status(dev) != 0) {
        if (rt_expired(deadline))
            return VIRTIO_ERR_DEVICE;
        rt_delay_us(10);
    }
    return 0;
}

static void status_or(const struct virtio_dev *dev, uint32_t bits) {
    virtio_write(dev, VIRTIO_MMIO_STATUS, virtio_status(dev) | bits);
}

int virtio_negotiate(struct virtio_dev *dev, unsigned long long want) {
    int err = virtio_reset(dev);
    if (err)
        return err;
    status_or(dev, VIRTIO_STATUS_ACKNOWLEDGE);
    status_or(dev, VIRTIO_STATUS_DRIVER);

    virtio_write(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    dev->offered = (unsigned long long)virtio_read(dev, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    virtio_write(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    dev->offered |= virtio_read(dev, VIRTIO_MMIO_DEVICE_FEATURES);
    dev->features = dev->offered & want;
    if (!(dev->features & VIRTIO_F_VERSION_1)) {
        status_or(dev, VIRTIO_STATUS_FAILED);
        return VIRTIO_ERR_FEATURES;
    }
    virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)dev->features);
    virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(dev->features >> 32));

    status_or(dev, VIRTIO_STATUS_FEATURES_OK);
    if (!(virtio_status(dev) & VIRTIO_STATUS_FEATURES_OK)) {
        status_or(dev, VIRTIO_STATUS_FAILED);
        return VIRTIO_ERR_FEATURES;
    }
    return 0;
}

static void write_addr(const struct virtio_dev *dev, unsigned low, const void *p) {
    unsigned long long a = (unsigned long long)(unsigned long)p;
    virtio_write(dev, low, (uint32_t)a);
    virtio_write(dev, low + 4, (uint32_t)(a >> 32));
}

/* Empties the rings and puts every descriptor on the free list. */
static void virtq_clear(struct virtq *q, unsigned index, unsigned size) {
    unsigned i;
    volatile unsigned char *b = (volatile unsigned char *)q;
    for (i = 0; i < sizeof *q; i++)
        b[i] = 0;
    q->index = index;
    q->size = size;
    for (i = 0; i < size; i++)
        q->link[i] = (uint16_t)(i + 1);
    q->free_head = 0;
    q->num_free = (uint16_t)size;
}

int virtq_setup(const struct virtio_dev *dev, struct virtq *q, unsigned index, unsigned size) {
    uint32_t max;

    if (size == 0 || size > VIRTQ_MAX || (size & (size - 1)) != 0)
        return VIRTIO_ERR_QUEUE;
    virtio_write(dev, VIRTIO_MMIO_QUEUE_SEL, index);
    if (virtio_read(dev, VIRTIO_MMIO_QUEUE_READY) != 0)
        return VIRTIO_ERR_QUEUE;
    max = virtio_read(dev, VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max < size)
        return VIRTIO_ERR_QUEUE;
    virtq_clear(q, index, size);
    rt_barrier();
    virtio_write(dev, VIRTIO_MMIO_QUEUE_NUM, size);
    write_addr(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, q->desc);
    write_addr(dev, VIRTIO_MMIO_QUEUE_DRIVER_LOW, &q->avail);
    write_addr(dev, VIRTIO_MMIO_QUEUE_DEVICE_LOW, &q->used);
    virtio_write(dev, VIRTIO_MMIO_QUEUE_READY, 1);
    if (virtio_read(dev, VIRTIO_MMIO_QUEUE_READY) != 1)
        return VIRTIO_ERR_QUEUE;
    return 0;
}

void virtio_driver_ok(const struct virtio_dev *dev) { status_or(dev, VIRTIO_STATUS_DRIVER_OK); }

int virtio_init(struct virtio_dev *dev, unsigned long long want, struct virtq *const *queues, unsigned nqueues,
                unsigned size) {
    int attempt, err = VIRTIO_ERR_NEEDS_RESET;
    unsigned i;

    for (attempt = 0; attempt < FEATURE_RETRIES; attempt++) {
        err = virtio_negotiate(dev, want);
        for (i = 0; err == 0 && i < nqueues; i++)
            err = virtq_setup(dev, queues[i], i, size);
        if (err == 0) {
            virtio_driver_ok(dev);
            if (virtio_status(dev) & VIRTIO_STATUS_NEEDS_RESET)
                err = VIRTIO_ERR_NEEDS_RESET;
        }
        if (err == 0 || !(virtio_status(dev) & VIRTIO_STATUS_NEEDS_RESET))
            return err;
    }
    return err;
}

/* ---- the split ring (§2.7) ---------------------------------------------- */

int virtq_add(struct virtq *q, const struct virtio_buf *bufs, unsigned n, void *token) {
    uint16_t head = q->free_head, d = head;
    unsigned i;

    if (n == 0 || n > q->num_free)
        return -1;
    for (i = 0; i < n; i++) {
        q->desc[d].addr = bufs[i].addr;
        q->desc[d].len = bufs[i].len;
        q->desc[d].flags =
            (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        q->desc[d].next = i + 1 < n ? q->link[d] : 0;
        if (i + 1 < n)
            d = q->link[d];
    }
    q->free_head = q->link[d]; /* the chain is the first n entries of the free list */
    q->num_free = (uint16_t)(q->num_free - n);
    q->chain_len[head] = (uint16_t)n;
    q->token[head] = token;

    q->avail.ring[q->avail_idx & (q->size - 1)] = head;
    q->avail_idx++;
    rt_barrier(); /* descriptors and ring entry before the index */
    *(volatile uint16_t *)&q->avail.idx = q->avail_idx;
    return head;
}

void virtq_kick(const struct virtio_dev *dev, const struct virtq *q) {
    rt_barrier(); /* avail->idx before the notification, and before used->flags is read */
    /* The device is looking at the ring itself (virtio 1.2 §2.7.7.2). */
    if (*(volatile const uint16_t *)&q->used.flags & VIRTQ_USED_F_NO_NOTIFY)
        return;
    virtio_write(dev, VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
}

int virtq_poll(struct virtq *q, uint32_t *len, void **token) {
    volatile struct virtq_used *used = &q->used;
    uint16_t idx = used->idx, tail;
    uint32_t id, n, i;

    if (idx == q->last_used)
        return 0;
    if ((uint16_t)(idx - q->last_used) > q->size)
        return VIRTIO_ERR_BAD_USED;
    rt_barrier(); /* the index before the element it publishes */
    id = used->ring[q->last_used & (q->size - 1)].id;
    n = used->ring[q->last_used & (q->size - 1)].len;
    q->last_used++;
    if (id >= q->size || q->chain_len[id] == 0)
        return VIRTIO_ERR_BAD_USED;

    tail = (uint16_t)id;
    for (i = 1; i < q->chain_len[id]; i++)
        tail = q->link[tail];
    q->link[tail] = q->free_head;
    q->free_head = (uint16_t)id;
    q->num_free = (uint16_t)(q->num_free + q->chain_len[id]);
    q->chain_len[id] = 0;
    if (len)
        *len = n;
    if (token)
        *token = q->token[id];
    return 1;
}

void virtio_ack_irq(const struct virtio_dev *dev) {
    uint32_t isr = virtio_read(dev, VIRTIO_MMIO_INTERRUPT_STATUS);
    if (isr)
        virtio_write(dev, VIRTIO_MMIO_INTERRUPT_ACK, isr);
}

int virtq_wait_timeout(const struct virtio_dev *dev, struct virtq *q, unsigned ms, uint32_t *len, void **token) {
    unsigned long long deadline = rt_deadline_ms(ms), check = rt_deadline_ms(1);
    for (;;) {
        int got = virtq_poll(q, len, token);
        if (got == 1) {
            virtio_ack_irq(dev);
            return 0;
        }
        if (got < 0)
            return got;
        if (rt_expired(check)) { /* an MMIO read is a VM exit: once a millisecond */
            if (virtio_status(dev) & VIRTIO_STATUS_NEEDS_RESET)
                return VIRTIO_ERR_NEEDS_RESET;
            if (rt_expired(deadline))
                return VIRTIO_ERR_TIMEOUT;
            check = rt_deadline_ms(1);
        }
        rt_relax();
    }
}

void virtq_wait(const struct virtio_dev *dev, struct virtq *q, uint32_t *len, void **token) {
    int err = virtq_wait_timeout(dev, q, VIRTIO_TIMEOUT_MS, len, token);
    if (err == 0)
        return;
    rt_puts("virtio: slot ");
    rt_put_u64(dev->slot);
    rt_puts(" queue ");
    rt_put_u64(q->index);
    rt_puts(": ");
    rt_puts(virtio_strerror(err));
    rt_puts("\n");
    rt_exit(1);
}
