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

function(cairn_cc_fuzz)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  if(NOT CAIRN_FUZZ)
    return()
  endif()
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${ARG_NAME} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${ARG_NAME} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
endfunction()
