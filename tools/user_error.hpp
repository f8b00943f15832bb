// A mistake in what the user asked for on the command line or in a config
// file. tools/ is the only layer that speaks to the user: strata.cpp prints
// what() as one sentence and exits 2. The layers below have their own errors
// (fdt::PlanError, LoadError, std::system_error), which the commands turn
// into this one where the user's input caused them.
#pragma once

#include <stdexcept>

namespace strata::cli {

class UserError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace strata::cli
