/*
 * A small polling virtio-mmio driver core for the test guests (virtio 1.2,
 * §4.2 MMIO transport version 2, §2.7 split virtqueues). Architecture-neutral:
 * registers go through the rt_mmio_* accessors, ordering through
 * rt_barrier(). Guests run with interrupts off, so completions are found by
 * polling used->idx; every wait is bounded.
 *
 * The layer is deliberately thin and open: the ring structures and register
 * offsets are public so that a hostile test can break the rules on purpose.
 *
 * Split virtqueue (one per `struct virtq`, guest-physical == guest-virtual):
 *
 *   descriptor table (16-byte aligned)      driver area: avail (2-byte aligned)
 *   +----+------+-----+------+------+        +-------+-----+------------------+
 *   |  0 | addr | len | flags| next |        | flags | idx | ring[size] heads |
 *   |  1 | addr | len | flags| next |        +-------+-----+------------------+
 *   | .. |   chains via NEXT -> next |          driver writes ring[idx % size],
 *   +----+---------------------------+          then (barrier) idx++
 *        ^            ^
 *        | heads      |                      device area: used (4-byte aligned)
 *        +------------+-----------------+    +-------+-----+------------------+
 *                                       +----| flags | idx | ring[size]{id,len}
 *                                            +-------+-----+------------------+
 *                                              device writes ring[idx % size],
 *                                              then idx++; the driver polls idx
 *
 * A chain is device-readable buffers first, then device-writable ones
 * (flags WRITE). Indices are free-running 16-bit counters; all fields are
 * little-endian, which both guest architectures are natively.
 */
#ifndef STRATA_GUEST_VIRTIO_H
#define STRATA_GUEST_VIRTIO_H

#include <stdint.h>

/* MMIO registers (§4.2.2): below 0x100 only aligned 32-bit accesses. */
#define VIRTIO_MMIO_MAGIC 0x000 /* "virt" = 0x74726976 */
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976u

/* Device IDs (§5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01u
#define VIRTIO_STATUS_DRIVER 0x02u
#define VIRTIO_STATUS_DRIVER_OK 0x04u
#define VIRTIO_STATUS_FEATURES_OK 0x08u
#define VIRTIO_STATUS_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED 0x80u

/* Feature bits, as a 64-bit mask. */
#define VIRTIO_F_BIT(n) (1ull << (n))
#define VIRTIO_F_INDIRECT_DESC VIRTIO_F_BIT(28)
#define VIRTIO_F_EVENT_IDX VIRTIO_F_BIT(29)
#define VIRTIO_F_VERSION_1 VIRTIO_F_BIT(32)

/* Descriptor flags (§2.7.5). */
#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
/* Used ring flags (§2.7.10): the device needs no notification. */
#define VIRTQ_USED_F_NO_NOTIFY 1u

/* Largest queue this driver sets up; the rings are sized for it. */
#define VIRTQ_MAX 32u

/* Bound of every wait that has no better one (a broken device must not hang us). */
#define VIRTIO_TIMEOUT_MS 5000u

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[VIRTQ_MAX];
    uint16_t used_event; /* EVENT_IDX only; never negotiated here */
};

struct virtq_used_elem {
    uint32_t id; /* head of the completed chain */
    uint32_t len; /* bytes the device wrote into the chain */
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[VIRTQ_MAX];
    uint16_t avail_event;
};

/*
 * One virtqueue: the device-visible rings first (one page, page-aligned),
 * then the driver's private bookkeeping. Declare these static (zeroed .bss).
 */
struct virtq {
    struct virtq_desc desc[VIRTQ_MAX]; /* offset 0 */
    struct virtq_avail avail __attribute__((aligned(512))); /* offset 512 */
    struct virtq_used used __attribute__((aligned(512))); /* offset 1024 */

    unsigned index; /* queue number on the device */
    unsigned size; /* power of two, at most VIRTQ_MAX */
    uint16_t avail_idx; /* next avail->idx to publish */
    uint16_t last_used; /* next used->idx to consume */
    uint16_t free_head, num_free;
    /* Free list, and while a chain is in flight its links (mirrors desc.next). */
    uint16_t link[VIRTQ_MAX];
    uint16_t chain_len[VIRTQ_MAX]; /* per head in flight; 0 = not a head in flight */
    void *token[VIRTQ_MAX]; /* per head in flight */
} __attribute__((aligned(4096)));

struct virtio_dev {
    unsigned long base; /* MMIO window, identity mapped */
    unsigned long long window; /* its size */
    unsigned irq; /* first cell of `interrupts` */
    unsigned slot; /* index among the virtio,mmio nodes, in DTB order */
    unsigned device_id;
    unsigned long long offered; /* device features */
    unsigned long long features; /* negotiated */
};

/* One buffer of a chain. */
struct virtio_buf {
    uint64_t addr;
    uint32_t len;
    int writable; /* device-writable (VIRTQ_DESC_F_WRITE) */
};

/* Errors (negative results). */
#define VIRTIO_ERR_TIMEOUT (-1)
#define VIRTIO_ERR_NEEDS_RESET (-2)
#define VIRTIO_ERR_BAD_USED (-3) /* the device returned an id that is not in flight */
#define VIRTIO_ERR_FEATURES (-4) /* VERSION_1 missing, or FEATURES_OK refused */
#define VIRTIO_ERR_QUEUE (-5) /* queue unavailable, too small, or not accepted */
#define VIRTIO_ERR_DEVICE (-6) /* bad magic/version, or reset never completed */

/* Text for a VIRTIO_ERR_* value. */
const char *virtio_strerror(int err);

/*
 * Ends the guest with status 1 after one line on the console:
 * "<guest>: <what>", then ": <virtio_strerror(err)>" unless err is 0.
 */
_Noreturn void virtio_fatal(const char *guest, const char *what, int err);

/*
 * The nth (from 0) virtio-mmio device with the given device ID, in DTB
 * order, mapped and with magic and version checked. device_id 0 matches
 * any device. 0 if found, -1 otherwise (or if the DTB is unreadable).
 * Without a DTB (NULL: a PVH boot by QEMU), the devices the command line
 * names with virtio_mmio.device=<size>@<base>:<irq>.
 */
int virtio_find(const void *dtb, unsigned device_id, unsigned nth, struct virtio_dev *dev);

/* Aligned 32-bit register access. */
uint32_t virtio_read(const struct virtio_dev *dev, unsigned off);
void virtio_write(const struct virtio_dev *dev, unsigned off, uint32_t v);
uint32_t virtio_status(const struct virtio_dev *dev);

/* Device config space at offset off from 0x100: 8, 32 and 64-bit fields (§4.2.2.2). */
uint8_t virtio_config8(const struct virtio_dev *dev, unsigned off);
uint32_t virtio_config32(const struct virtio_dev *dev, unsigned off);
uint64_t virtio_config64(const struct virtio_dev *dev, unsigned off);

/* Writes 0 to Status and waits (bounded) until it reads 0. 0 or VIRTIO_ERR_DEVICE. */
int virtio_reset(const struct virtio_dev *dev);

/*
 * §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, features = offered & want
 * (VERSION_1 must be in both), FEATURES_OK and its read-back.
 */
int virtio_negotiate(struct virtio_dev *dev, unsigned long long want);

/* Step 7 for one queue: size entries (power of two <= VIRTQ_MAX), rings zeroed, QueueReady. */
int virtq_setup(const struct virtio_dev *dev, struct virtq *q, unsigned index, unsigned size);

/* Step 8: sets DRIVER_OK. */
void virtio_driver_ok(const struct virtio_dev *dev);

/*
 * The whole sequence: negotiate, queues[i] becomes queue i with `size`
 * entries, DRIVER_OK. Starts over (up to 3 times) if the device reports
 * NEEDS_RESET. 0 or a VIRTIO_ERR_*.
 */
int virtio_init(struct virtio_dev *dev, unsigned long long want, struct virtq *const *queues,
                unsigned nqueues, unsigned size);

/*
 * Makes a chain of n buffers available (not yet notified). Returns the head
 * descriptor index, or -1 if fewer than n descriptors are free (or n is 0).
 */
int virtq_add(struct virtq *q, const struct virtio_buf *bufs, unsigned n, void *token);

/* Tells the device about new buffers (a QueueNotify write). */
void virtq_kick(const struct virtio_dev *dev, const struct virtq *q);

/*
 * Takes the next used element, if any, and frees its descriptors.
 * 1 with *len and *token set (either may be NULL), 0 if none yet,
 * VIRTIO_ERR_BAD_USED if the device misbehaved.
 */
int virtq_poll(struct virtq *q, uint32_t *len, void **token);

/* Reads InterruptStatus and acknowledges what it shows. */
void virtio_ack_irq(const struct virtio_dev *dev);

/*
 * Polls for the next used element for at most ms milliseconds, watching
 * Status for NEEDS_RESET; acknowledges the interrupt on success.
 * 0, VIRTIO_ERR_TIMEOUT, VIRTIO_ERR_NEEDS_RESET or VIRTIO_ERR_BAD_USED.
 */
int virtq_wait_timeout(const struct virtio_dev *dev, struct virtq *q, unsigned ms, uint32_t *len,
                       void **token);

/* virtq_wait_timeout with VIRTIO_TIMEOUT_MS; prints the error and rt_exit(1)s on failure. */
void virtq_wait(const struct virtio_dev *dev, struct virtq *q, uint32_t *len, void **token);

#endif
