# Language level, warnings and sanitizers, exposed as INTERFACE targets so each
# library opts in explicitly and nothing leaks into third-party headers.
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

option(LOKT_WERROR "Treat warnings as errors (dev and CI builds)" OFF)
set(LOKT_SANITIZE "" CACHE STRING "Sanitizers to build with: empty, address, thread")

add_library(lokt_warnings INTERFACE)
target_compile_options(lokt_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wconversion -Wno-sign-conversion
  $<$<BOOL:${LOKT_WERROR}>:-Werror>
  # GCC 12 reports these falsely inside libstdc++ string code at -O2 and above;
  # they stay visible as warnings but do not fail an optimised -Werror build.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-error=restrict -Wno-error=maybe-uninitialized>)

add_library(lokt_sanitizers INTERFACE)
if(LOKT_SANITIZE STREQUAL "address")
  target_compile_options(lokt_sanitizers INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(lokt_sanitizers INTERFACE -fsanitize=address,undefined)
elseif(LOKT_SANITIZE STREQUAL "thread")
  target_compile_options(lokt_sanitizers INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(lokt_sanitizers INTERFACE -fsanitize=thread)
elseif(NOT LOKT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "LOKT_SANITIZE must be empty, 'address' or 'thread', not '${LOKT_SANITIZE}'")
endif()

# Where code and strings land in the program. lokt starts for every guarded
# command, and each page its start-up touches is a page fault (about 3 µs on a
# VM): a function or a string literal per section, so that the static link can
# drop what nothing uses (--gc-sections), and string literals kept out of the
# merged string pool, whose suffix sharing scatters a command's few strings
# among all of OpenSSL's (docs/performance.md, "The plain lock, before and after").
add_library(lokt_layout INTERFACE)
target_compile_options(lokt_layout INTERFACE
  -ffunction-sections -fdata-sections $<$<CXX_COMPILER_ID:GNU>:-fno-merge-constants>)

add_library(lokt_build_flags INTERFACE)
target_link_libraries(lokt_build_flags INTERFACE lokt_warnings lokt_sanitizers lokt_layout)
