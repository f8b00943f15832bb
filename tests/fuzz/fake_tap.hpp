// A fake tap for the virtio-net fuzz target. virtio::Net opens
// /dev/net/tun itself (root and a tap interface needed), so the target is
// linked with -Wl,--wrap for open (open64), ioctl, readv and writev: opening
// /dev/net/tun yields an eventfd standing for the tap, its TUNSET* ioctls
// succeed, and readv/writev on it take frames from and to the harness. Any
// other fd goes to the real calls. As a tap does, readv reports a frame's
// whole length even when the buffers were shorter.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

namespace strata::fuzz::tap {

// The eventfd standing for the tap, -1 before Net opened one.
int fd();
// Frames for the guest: readv takes them in order; the fd turns readable.
void push_frame(std::vector<std::uint8_t> frame);
// Makes the fd readable even without frames (pending waits complete).
void wake();
// How many times writev answers EAGAIN before taking frames again.
void refuse_writes(unsigned count);
// Drops the frames and forgets the fd (Net closed it).
void forget();
std::uint64_t frames_sent();

} // namespace strata::fuzz::tap
