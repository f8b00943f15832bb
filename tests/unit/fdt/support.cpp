#include "support.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <libfdt.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace strata::fdt::test {
namespace {

// A temporary file removed when the test is done with it.
class TempFile {
public:
    TempFile() {
        int fd = mkstemp(path_.data());
        if (fd < 0)
            throw std::runtime_error("mkstemp failed");
        close(fd);
    }
    ~TempFile() { unlink(path_.c_str()); }
    TempFile(const TempFile &) = delete;
    TempFile &operator=(const TempFile &) = delete;
    const std::string &path() const { return path_; }

private:
    std::string path_ = "/tmp/strata-fdt-test-XXXXXX";
};

} // namespace

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream all;
    all << in.rdbuf();
    return all.str();
}

Dtc decompile(const std::vector<std::uint8_t> &dtb) {
    TempFile in, err;
    {
        std::ofstream out(in.path(), std::ios::binary);
        out.write(reinterpret_cast<const char *>(dtb.data()), static_cast<std::streamsize>(dtb.size()));
    }
    const std::string cmd = "dtc -I dtb -O dts " + in.path() + " 2>" + err.path();
    Dtc result;
    FILE *pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr)
        throw std::runtime_error("popen dtc failed");
    char buf[4096];
    for (std::size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;)
        result.dts.append(buf, n);
    const int status = pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.warnings = read_file(err.path());
    return result;
}

bool node_exists(const std::vector<std::uint8_t> &dtb, const char *path) {
    return fdt_path_offset(dtb.data(), path) >= 0;
}

std::vector<std::uint8_t> bytes_prop(const std::vector<std::uint8_t> &dtb, const char *path, const char *prop) {
    const int node = fdt_path_offset(dtb.data(), path);
    if (node < 0)
        return {};
    int len = 0;
    const auto *p = static_cast<const std::uint8_t *>(fdt_getprop(dtb.data(), node, prop, &len));
    if (p == nullptr)
        return {};
    return {p, p + len};
}

std::vector<std::uint32_t> cells(const std::vector<std::uint8_t> &dtb, const char *path, const char *prop) {
    const auto raw = bytes_prop(dtb, path, prop);
    std::vector<std::uint32_t> out;
    for (std::size_t i = 0; i + 4 <= raw.size(); i += 4)
        out.push_back(std::uint32_t{raw[i]} << 24 | std::uint32_t{raw[i + 1]} << 16 | std::uint32_t{raw[i + 2]} << 8 |
                      raw[i + 3]);
    return out;
}

std::string string_prop(const std::vector<std::uint8_t> &dtb, const char *path, const char *prop) {
    const auto raw = bytes_prop(dtb, path, prop);
    return std::string(reinterpret_cast<const char *>(raw.data()), raw.empty() ? 0 : raw.size() - 1);
}

} // namespace strata::fdt::test
