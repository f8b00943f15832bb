// crosscheck: exercises each library of strata's build once and prints one
// line per check ("crosscheck: <what> ok|FAIL ..."), exit status 0 when all
// pass. Usage: crosscheck [--file PATH] (a scratch file for the io_uring check).
#include <boost/asio.hpp>
#include <boost/asio/random_access_file.hpp>
#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

extern "C" {
#include <libfdt.h>
#include <liburing.h>
}

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

int failures = 0;

void report(const char* what, bool ok, const std::string& detail = {})
{
    std::printf("crosscheck: %s %s%s%s\n", what, ok ? "ok" : "FAIL", detail.empty() ? "" : " ", detail.c_str());
    if (!ok)
        ++failures;
}

void check_fdt()
{
    std::vector<char> blob(4096);
    bool ok = fdt_create_empty_tree(blob.data(), static_cast<int>(blob.size())) == 0
        && fdt_setprop_u32(blob.data(), 0, "strata,check", 42) == 0
        && fdt_check_full(blob.data(), blob.size()) == 0;
    int len = 0;
    const void* prop = ok ? fdt_getprop(blob.data(), 0, "strata,check", &len) : nullptr;
    report("libfdt", prop != nullptr && len == 4 && fdt32_ld(static_cast<const fdt32_t*>(prop)) == 42);
}

void check_liburing()
{
    io_uring ring{};
    int rc = io_uring_queue_init(8, &ring, 0);
    if (rc == 0)
        io_uring_queue_exit(&ring);
    report("liburing", rc == 0, rc == 0 ? "" : std::strerror(-rc));
}

void check_asio_file(const std::string& path)
{
    try {
        boost::asio::io_context io;
        boost::asio::random_access_file file(io, path,
            boost::asio::random_access_file::read_write | boost::asio::random_access_file::create
                | boost::asio::random_access_file::truncate);
        const std::string text = "strata on io_uring";
        std::string back(text.size(), '\0');
        boost::system::error_code wec, rec;
        boost::asio::async_write_at(file, 4096, boost::asio::buffer(text),
            [&](boost::system::error_code ec, std::size_t) {
                wec = ec;
                boost::asio::async_read_at(file, 4096, boost::asio::buffer(back),
                    [&](boost::system::error_code ec2, std::size_t) { rec = ec2; });
            });
        io.run();
        report("asio-io_uring-file", !wec && !rec && back == text,
            wec ? wec.message() : rec ? rec.message() : "");
    } catch (const std::exception& e) {
        report("asio-io_uring-file", false, e.what());
    }
}

} // namespace

int main(int argc, char** argv)
{
    namespace po = boost::program_options;
    std::string path = "/tmp/crosscheck.bin";
    po::options_description desc("crosscheck");
    desc.add_options()("file", po::value(&path), "scratch file for the io_uring check");
    try {
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
        report("program_options", true);
    } catch (const std::exception& e) {
        report("program_options", false, e.what());
    }
    spdlog::set_pattern("%v");
    spdlog::info("crosscheck: spdlog ok (fmt {}.{})", FMT_VERSION / 10000, FMT_VERSION / 100 % 100);
    check_fdt();
    check_liburing();
    check_asio_file(path);
    std::printf("crosscheck: %s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
