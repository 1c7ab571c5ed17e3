// See scratch_dir.hpp.
#include "tests/support/scratch_dir.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

namespace lokt::test {
namespace {

std::atomic<long> g_failed_assertions{0};

// Counts failed assertions as they happen, which is before a fixture's
// destructor runs; test_case_end would be too late.
struct FailureCounter : doctest::IReporter {
    explicit FailureCounter(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override {}
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override { ++g_failed_assertions; }
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData& data) override {
        if (data.m_failed) ++g_failed_assertions;
    }
    void log_message(const doctest::MessageData& data) override {
        if ((data.m_severity & doctest::assertType::is_warn) == 0) ++g_failed_assertions;  // FAIL / FAIL_CHECK
    }
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

REGISTER_LISTENER("lokt_failure_counter", 1, FailureCounter);

long failed_assertions() { return g_failed_assertions.load(); }

ScratchDir::ScratchDir(std::string_view prefix) : m_failures_at_start(failed_assertions()) {
    std::string pattern = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    m_path = pattern;
}

bool ScratchDir::failed() const { return failed_assertions() != m_failures_at_start || std::uncaught_exceptions() > 0; }

ScratchDir::~ScratchDir() {
    if (m_keep || failed()) {
        std::fprintf(stderr, "scratch directory kept: %s\n", m_path.c_str());
        return;
    }
    std::error_code ignored;
    // Make everything removable again (tests chmod things to 000).
    for (auto it = std::filesystem::recursive_directory_iterator(
             m_path, std::filesystem::directory_options::skip_permission_denied, ignored);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ignored)) {
        if (it->is_directory(ignored) && !it->is_symlink(ignored)) ::chmod(it->path().c_str(), 0700);
    }
    ::chmod(m_path.c_str(), 0700);
    std::filesystem::remove_all(m_path, ignored);
}

}  // namespace lokt::test
