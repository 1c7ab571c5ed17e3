# Man pages: written in scdoc under docs/man/ (NAME.SECTION.scd), turned into
# roff in <build>/man/ at build time (NAME.SECTION, and NAME.SECTION.gz as
# Debian wants them installed), installed to share/man/manSECTION.
# loktd(8) is built and installed only when the loktd target exists; the check
# runs at the end of the top-level directory, so the order of include() and
# add_subdirectory(daemon) does not matter.
#
# This file is also the converter (cmake -P): scdoc reads stdin and writes
# stdout, which a custom command cannot redirect portably.
if(CMAKE_SCRIPT_MODE_FILE)
  execute_process(COMMAND "${SCDOC}" INPUT_FILE "${INPUT}" OUTPUT_FILE "${OUTPUT}.tmp"
                  RESULT_VARIABLE failed)
  if(failed)
    file(REMOVE "${OUTPUT}.tmp")
    message(FATAL_ERROR "scdoc failed on ${INPUT}")
  endif()
  file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
  if(GZIP)
    # -n: no name or time stamp in the header, so the package is reproducible.
    execute_process(COMMAND "${GZIP}" -9 -n -c "${OUTPUT}" OUTPUT_FILE "${OUTPUT}.gz"
                    RESULT_VARIABLE failed)
    if(failed)
      message(FATAL_ERROR "gzip failed on ${OUTPUT}")
    endif()
  endif()
  return()
endif()

include(GNUInstallDirs)

find_program(SCDOC_EXECUTABLE scdoc)
if(NOT SCDOC_EXECUTABLE)
  message(FATAL_ERROR "scdoc not found (it turns docs/man/*.scd into man pages): install it with 'apt-get install scdoc'")
endif()
# Installed pages are compressed where gzip exists (always, on Debian).
find_program(GZIP_EXECUTABLE gzip)
mark_as_advanced(SCDOC_EXECUTABLE GZIP_EXECUTABLE)

# lokt_man_page(lokt.1): build <build>/man/lokt.1 from docs/man/lokt.1.scd and install it.
function(lokt_man_page page)
  string(REGEX MATCH "[0-9]$" section "${page}")
  set(input "${PROJECT_SOURCE_DIR}/docs/man/${page}.scd")
  set(output "${PROJECT_BINARY_DIR}/man/${page}")
  set(outputs "${output}")
  set(installed "${output}")
  if(GZIP_EXECUTABLE)
    list(APPEND outputs "${output}.gz")
    set(installed "${output}.gz")
  endif()
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND "${CMAKE_COMMAND}" -DSCDOC=${SCDOC_EXECUTABLE} -DGZIP=${GZIP_EXECUTABLE}
            -DINPUT=${input} -DOUTPUT=${output} -P "${PROJECT_SOURCE_DIR}/cmake/ManPages.cmake"
    DEPENDS "${input}" "${PROJECT_SOURCE_DIR}/cmake/ManPages.cmake"
    COMMENT "Generating man page ${page}"
    VERBATIM)
  string(REPLACE "." "_" target "man_${page}")
  add_custom_target(${target} ALL DEPENDS ${outputs})
  install(FILES "${installed}" DESTINATION "${CMAKE_INSTALL_MANDIR}/man${section}")
endfunction()

file(MAKE_DIRECTORY "${PROJECT_BINARY_DIR}/man")
lokt_man_page(lokt.1)

function(lokt_daemon_man_page)
  if(TARGET loktd)
    lokt_man_page(loktd.8)
  endif()
endfunction()
cmake_language(DEFER CALL lokt_daemon_man_page)
