// What a call threw: the text of the exception of type E (vhost_user::Error
// unless told), or a test failure when it threw nothing.
#pragma once

#include "devices/vhost_user/protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace strata::vhost_user::test {

template <class E = Error, class F>
std::string error_of(F &&call) {
    try {
        call();
    } catch (const E &e) {
        return e.what();
    }
    ADD_FAILURE() << "no error thrown";
    return {};
}

} // namespace strata::vhost_user::test
