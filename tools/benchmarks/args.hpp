// Error exits and number arguments shared by the benchmark programs.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bench {

// "PROGRAM: WHAT: strerror(err)", exit 1.
[[noreturn]] inline void die(const char *program, const std::string &what, int err) {
    std::fprintf(stderr, "%s: %s: %s\n", program, what.c_str(), std::strerror(err));
    std::exit(1);
}

// A whole number (decimal or 0x hex); exit 2 with a message otherwise.
inline unsigned long long number(const char *program, const char *s, const char *what) {
    char *end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s, &end, 0);
    if (errno || end == s || *end) {
        std::fprintf(stderr, "%s: %s must be a number, not '%s'\n", program, what, s);
        std::exit(2);
    }
    return v;
}

} // namespace bench
