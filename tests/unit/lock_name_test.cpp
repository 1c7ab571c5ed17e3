// Lock names become file names: the validation rule of SPEC.md section 5.
#include <doctest/doctest.h>

#include <string>

#include "common/lock_name.hpp"

using lokt::validate_lock_name;

TEST_CASE("valid names") {
    for (const char* good : {"build", "test-shard-1", "db.migrate", "A_b-9", "x"}) {
        INFO(good);
        CHECK(validate_lock_name(good).ok());
    }
    CHECK(validate_lock_name(std::string(200, 'a')).ok());
}

TEST_CASE("invalid names are usage errors naming the rule") {
    struct Case {
        std::string name;
        std::string rule;
    };
    const Case cases[] = {
        {"", "empty"},
        {"../x", "letters, digits"},
        {"/etc", "letters, digits"},
        {"a..b", "must not contain \"..\""},
        {"..", "must not contain"},
        {std::string(201, 'a'), "longer than the limit of 200"},
        {"caf\xC3\xA9", "letters, digits"},
        {"has space", "letters, digits"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto valid = validate_lock_name(c.name);
        REQUIRE_FALSE(valid.ok());
        CHECK(valid.error().code == lokt::ErrorCode::usage);
        CHECK(valid.error().message.find(c.rule) != std::string::npos);
    }
}
