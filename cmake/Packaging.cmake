# Installation of the non-program files, and the Debian package:
#   cmake --build build --target package   ->   build/lokt_<version>_<arch>.deb
# holding /usr/bin/lokt (and its twin with TLS, /usr/libexec/lokt/lokt-tls),
# /usr/bin/loktd and its systemd user units (when the
# daemon is built), the man pages (ManPages.cmake) and the shell completions.
# Everything that depends on the daemon is decided at the end of the top-level
# directory, so the order of include() and add_subdirectory(daemon) does not
# matter.
include(GNUInstallDirs)

# Shell completions: thin scripts around the hidden `lokt __complete`.
set(_completions "${PROJECT_SOURCE_DIR}/packaging/completions")
install(FILES "${_completions}/lokt.bash" RENAME lokt
        DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions")
install(FILES "${_completions}/_lokt" DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/zsh/vendor-completions")
install(FILES "${_completions}/lokt.fish" DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/fish/vendor_completions.d")

# The daemon's service files, from packaging/systemd/ and packaging/launchd/,
# when they exist and loktd is built. A unit that names a program is a
# template (*.in): its ExecStart must name the loktd installed next to lokt,
# under whatever prefix the install uses (/usr for the package, /usr/local for
# a plain `cmake --install build`, or --prefix), so the unit is written at
# install time. The build tree holds a copy for the configured prefix, which
# tests/daemon/verify_systemd_units.sh checks.
function(lokt_install_daemon_files)
  if(NOT TARGET loktd)
    return()
  endif()
  set(systemd "${PROJECT_SOURCE_DIR}/packaging/systemd")
  set(generated "${PROJECT_BINARY_DIR}/packaging/systemd")
  if(EXISTS "${systemd}")
    file(GLOB units CONFIGURE_DEPENDS "${systemd}/*.service" "${systemd}/*.socket")
    file(GLOB templates CONFIGURE_DEPENDS "${systemd}/*.service.in" "${systemd}/*.socket.in")
    foreach(template IN LISTS templates)
      get_filename_component(unit "${template}" NAME_WLE)
      # lokt and loktd install to <prefix>/bin (client/ and daemon/CMakeLists.txt).
      set(LOKT_INSTALL_BINDIR "${CMAKE_INSTALL_PREFIX}/bin")
      configure_file("${template}" "${generated}/${unit}" @ONLY)
      install(CODE "
        set(LOKT_INSTALL_BINDIR \"\${CMAKE_INSTALL_PREFIX}/bin\")
        configure_file(\"${template}\" \"${generated}/install/${unit}\" @ONLY)")
      install(FILES "${generated}/install/${unit}" DESTINATION lib/systemd/user)
    endforeach()
    foreach(unit IN LISTS units)
      file(COPY "${unit}" DESTINATION "${generated}")
    endforeach()
    if(units)
      # The systemd user unit directory, under the prefix (/usr/lib/systemd/user in the package).
      install(FILES ${units} DESTINATION lib/systemd/user)
    endif()
  endif()
  set(launchd "${PROJECT_SOURCE_DIR}/packaging/launchd")
  if(APPLE AND EXISTS "${launchd}")
    file(GLOB agents CONFIGURE_DEPENDS "${launchd}/*.plist")
    if(agents)
      # Not a launchd directory: a user copies the agent to ~/Library/LaunchAgents.
      install(FILES ${agents} DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/lokt/launchd")
    endif()
  endif()
endfunction()
cmake_language(DEFER CALL lokt_install_daemon_files)

# The Debian package.
set(LOKT_PACKAGE_MAINTAINER "lokt maintainers <maintainers@lokt.invalid>"
    CACHE STRING "Maintainer field of the Debian package")

# What Debian policy asks of every package: /usr/share/doc/lokt/copyright and
# a changelog (changelog.gz: lokt is a native package, its version has no
# Debian revision), and the lintian override that says the static lokt is
# intended. Installed by `cmake --install` too; harmless there.
set(_debian "${PROJECT_SOURCE_DIR}/packaging/debian")
set(_debian_out "${PROJECT_BINARY_DIR}/packaging/debian")
string(TIMESTAMP LOKT_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file("${_debian}/changelog.in" "${_debian_out}/changelog" @ONLY)
install(CODE "execute_process(COMMAND gzip -9nc \"${_debian_out}/changelog\"
                              OUTPUT_FILE \"${_debian_out}/changelog.gz\" COMMAND_ERROR_IS_FATAL ANY)")
install(FILES "${_debian}/copyright" "${_debian_out}/changelog.gz" DESTINATION "${CMAKE_INSTALL_DOCDIR}")
install(FILES "${_debian}/lokt.lintian-overrides" RENAME lokt DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides")

set(CPACK_GENERATOR DEB)  # installs under /usr, the DEB default prefix
# Stage with DESTDIR, so that CMAKE_INSTALL_PREFIX is /usr while installing and
# the generated units name /usr/bin/loktd, not the staging directory. With
# DESTDIR staging, CPack installs under CPACK_INSTALL_PREFIX (not the project's
# /usr/local default).
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_NAME lokt)
set(CPACK_PACKAGE_VENDOR lokt)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "${LOKT_PACKAGE_MAINTAINER}")
set(CPACK_STRIP_FILES ON)
set(CPACK_THREADS 1)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # lokt_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${LOKT_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The long description; CPack puts the summary line above it and indents it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "lokt gives a shared resource (a build directory, a test database, git push,
a deploy) a name and lets exactly one holder use it at a time, for several
AI coding agents and the people watching them working in one repository on
one machine. A second agent gets a clear refusal naming the holder, or waits
its turn. Holds end when the holder finishes or dies, names can be frozen,
and every operation is appended to a JSON Lines audit log.
.
This package holds the lokt command (with lokt-tls, the same program with
TLS, for etcd over https), the optional per-user daemon loktd with its systemd
user units, man pages, and bash, zsh and fish completions.")
# Library dependencies are read from the binaries by dpkg-shlibdeps, which
# CPack runs on the files `file` says are ELF. Only `package` needs them.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
find_program(LOKT_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(LOKT_FILE_PROGRAM file)
mark_as_advanced(LOKT_DPKG_SHLIBDEPS LOKT_FILE_PROGRAM)
if(NOT LOKT_DPKG_SHLIBDEPS OR NOT LOKT_FILE_PROGRAM)
  message(STATUS "The package target needs dpkg-shlibdeps and file: install them with 'apt-get install dpkg-dev file'")
endif()
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "git")

# `package_source`: the sources without build trees and version control.
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/_CPack_Packages/" "\\\\.deb$")

include(CPack)
