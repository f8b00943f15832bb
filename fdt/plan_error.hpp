// The planner's error: a machine that cannot be laid out or described as asked
// (a map that does not fit the window, too many vCPUs or devices, a bad
// --ipa-bits or --arch). what() is one sentence: what was asked, the limit,
// the way out. The composition root (tools/) turns it into the user message.
#pragma once

#include <stdexcept>

namespace strata::fdt {

class PlanError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace strata::fdt
