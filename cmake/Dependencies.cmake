# Every third-party library comes from Debian. A missing one stops the
# configure step with the apt package that provides it.
function(lokt_require_package name apt_package)
  find_package(${name} ${ARGN} QUIET)
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR "${name} not found: install it with 'apt-get install ${apt_package}'")
  endif()
endfunction()

lokt_require_package(nlohmann_json nlohmann-json3-dev 3.10)
lokt_require_package(CLI11 libcli11-dev)
if(BUILD_TESTING OR NOT DEFINED BUILD_TESTING)
  lokt_require_package(doctest doctest-dev)
endif()
find_package(Threads REQUIRED)

# spdlog and Asio are the daemon's; they are checked here so a missing package
# is reported at configure time rather than half-way through a build.
lokt_require_package(spdlog libspdlog-dev)
# Compiled into loktd from the headers (spdlog and fmt header-only) rather than
# linked to libspdlog.so: the shared library would pull in libstdc++.so and
# libfmt.so beside the static libstdc++ loktd already carries, and their pages
# would count in the daemon's resident memory.
# (spdlog's own header-only target still links libfmt.so, hence this one.)
get_target_property(LOKT_SPDLOG_INCLUDE_DIRS spdlog::spdlog INTERFACE_INCLUDE_DIRECTORIES)
add_library(lokt_spdlog INTERFACE)
target_include_directories(lokt_spdlog SYSTEM INTERFACE ${LOKT_SPDLOG_INCLUDE_DIRS})
target_compile_definitions(lokt_spdlog INTERFACE SPDLOG_FMT_EXTERNAL)
target_link_libraries(lokt_spdlog INTERFACE fmt::fmt-header-only Threads::Threads)
find_path(ASIO_INCLUDE_DIR asio.hpp)
if(NOT ASIO_INCLUDE_DIR)
  message(FATAL_ERROR "standalone Asio not found: install it with 'apt-get install libasio-dev'")
endif()
add_library(lokt_asio INTERFACE)
target_include_directories(lokt_asio SYSTEM INTERFACE "${ASIO_INCLUDE_DIR}")
target_compile_definitions(lokt_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
target_link_libraries(lokt_asio INTERFACE Threads::Threads)

# OpenSSL, for etcd over https:// (protocol/etcd/http_connection.cpp through asio::ssl).
# Linked statically into the static lokt (libssl-dev ships the archives).
if(LOKT_SANITIZE STREQUAL "")
  set(OPENSSL_USE_STATIC_LIBS TRUE)
endif()
lokt_require_package(OpenSSL libssl-dev)
