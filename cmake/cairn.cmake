# cairn_cc_library(NAME n SRCS ... DEPS ...)  -> static library cairn_n, alias cairn::n
# cairn_cc_test(NAME n SRCS ... DEPS ...)     -> GoogleTest binary registered with ctest
# cairn_cc_fuzz(NAME n SRCS ... DEPS ...)     -> libFuzzer binary (only with -DCAIRN_FUZZ=ON)
# DEPS spell out the layering of DESIGN.md: a module names only modules above it.

function(cairn_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(cairn_${ARG_NAME} STATIC ${ARG_SRCS})
  add_library(cairn::${ARG_NAME} ALIAS cairn_${ARG_NAME})
  target_include_directories(cairn_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(cairn_${ARG_NAME} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  target_link_libraries(cairn_${ARG_NAME} PUBLIC ${ARG_DEPS})
endfunction()

function(cairn_cc_test)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
  set_tests_properties(${ARG_NAME} PROPERTIES ENVIRONMENT "CAIRN_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

# With CAIRN_FUZZ=ON (preset `fuzz`, clang) every target is compiled with
# -fsanitize=fuzzer-no-link,address,undefined, so coverage feedback and the sanitizers
# reach the code under test, not only the harness. Build just the fuzz targets and what
# they link: cmake --build build/fuzz --target fuzzers (the aggregate target every
# cairn_cc_fuzz joins), or --target <name>_fuzz.
if(CAIRN_FUZZ)
  include(CheckCXXSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer,address,undefined")
  check_cxx_source_compiles(
    "#include <cstddef>
     #include <cstdint>
     extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }"
    CAIRN_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  if(NOT CAIRN_HAVE_LIBFUZZER)
    message(FATAL_ERROR "CAIRN_FUZZ=ON needs clang with libFuzzer and the sanitizer runtimes "
                        "(Debian: apt-get install clang libclang-rt-14-dev); compiler is "
                        "${CMAKE_CXX_COMPILER}")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
                      -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

function(cairn_cc_fuzz)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  if(NOT CAIRN_FUZZ)
    return()
  endif()
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${ARG_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_options(${ARG_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  if(NOT TARGET fuzzers)
    add_custom_target(fuzzers)
  endif()
  add_dependencies(fuzzers ${ARG_NAME})
endfunction()
