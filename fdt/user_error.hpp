// A mistake in what the user asked for (flags, config, a memory map that cannot
// fit). The CLI prints what() as one sentence and exits 2; nothing else catches it.
#pragma once

#include <stdexcept>

namespace strata {

class UserError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace strata
