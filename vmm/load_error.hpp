// The loaders' error: a kernel, initrd or image file that cannot be read or
// is not what the VM can boot (wrong format, wrong machine, segments outside
// RAM). what() names the file and says what is wrong; the VM is never
// half-loaded. The composition root (tools/) turns it into the user message.
#pragma once

#include <stdexcept>

namespace strata {

class LoadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace strata
