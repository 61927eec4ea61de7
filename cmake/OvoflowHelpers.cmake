# Shared build helpers for ovoflow targets.

# Warnings for our own code only (third-party headers come in as SYSTEM).
function(ovoflow_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
    -Wimplicit-fallthrough)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports false positives through std::variant and std::optional
    # (GCC bug 105562 and relatives); keep -Werror meaningful without it.
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
  if(OVOFLOW_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# ovoflow_library(name SOURCES ... DEPS ...)
function(ovoflow_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  ovoflow_warnings(${name})
endfunction()

# ovoflow_test(name SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s] [FIXTURES ...] [ENV K=V ...])
# A GoogleTest binary registered as one CTest test (label "unit" by default).
function(ovoflow_test name)
  if(OVOFLOW_FUZZ)  # the fuzz build builds harnesses only
    return()
  endif()
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS;FIXTURES;ENV" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src)
  ovoflow_warnings(${name})
  add_test(NAME ${name} COMMAND ${name} --gtest_brief=1)
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "OVOFLOW_SOURCE_DIR=${CMAKE_SOURCE_DIR};OVOFLOW_BINARY_DIR=${CMAKE_BINARY_DIR};${ARG_ENV}")
  if(ARG_FIXTURES)
    set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED "${ARG_FIXTURES}")
  endif()
endfunction()
