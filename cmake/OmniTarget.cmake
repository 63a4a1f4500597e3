# Warnings everywhere on our own code; errors only where asked (the dev and ci presets), so a
# user's or a packager's plain build is not stopped by a new compiler's new warning.
# Generated and third-party code is compiled elsewhere.
option(OMNI_WERROR "Treat warnings in Omni's own code as errors" OFF)
function(omni_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra $<$<BOOL:${OMNI_WERROR}>:-Werror>
                                           -Wshadow -Wnon-virtual-dtor)
endfunction()

# One static library per folder, sources found by glob so adding a file needs no CMake edit.
# Files named *_main.cc are the folder's executables and stay out of the library, and so do
# files matching EXCLUDE (a regex), which a folder builds into a library of their own.
function(omni_library target dir)
  cmake_parse_arguments(L "" "EXCLUDE" "LIBS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${dir}/*.cc)
  list(FILTER sources EXCLUDE REGEX "_main\\.cc$")
  if(L_EXCLUDE)
    list(FILTER sources EXCLUDE REGEX "${L_EXCLUDE}")
  endif()
  if(sources)
    add_library(${target} STATIC ${sources})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} PUBLIC ${L_LIBS})
    omni_warnings(${target})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} INTERFACE ${L_LIBS})
  endif()
endfunction()

# A GoogleTest executable registered with ctest, one ctest entry per test case. LOCK names a
# resource (ctest RESOURCE_LOCK) for tests that touch host-wide state and must not overlap.
function(omni_test target)
  cmake_parse_arguments(T "" "LABEL;TIMEOUT;LOCK" "SOURCES;LIBS" ${ARGN})
  add_executable(${target} ${T_SOURCES})
  target_link_libraries(${target} PRIVATE ${T_LIBS} rapidcheck rapidcheck_gtest GTest::gtest omni_test_main)
  omni_warnings(${target})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  set(lock_property)
  if(T_LOCK)
    set(lock_property RESOURCE_LOCK ${T_LOCK})
  endif()
  # Half the ctest timeout: a test over it stops itself and names its RapidCheck seed.
  math(EXPR budget_s "${T_TIMEOUT} / 2")
  gtest_discover_tests(${target}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} ${lock_property}
      ENVIRONMENT OMNI_TEST_BUDGET_S=${budget_s}
    DISCOVERY_TIMEOUT 60)
endfunction()

include(GoogleTest)

# Generated code (protoc's output) is compiled for a quick build in the test presets: the test
# suite exercises it but does not test it, and with ASan at -O2 the containerd API alone cost
# minutes of CI. Plain builds (release) compile it like everything else.
option(OMNI_QUICK_GENERATED_CODE "Compile generated code at -O0, without debug info or sanitizers" OFF)
function(omni_generated_code_flags)
  if(OMNI_QUICK_GENERATED_CODE)
    set_source_files_properties(${ARGN}
      PROPERTIES COMPILE_OPTIONS "-O0;-g0;-fno-sanitize=all")
  endif()
endfunction()

# The simulator allocates and frees protobuf messages for every message it carries; glibc's
# malloc spends a fifth of a 10,000-node run in its slow paths, jemalloc far less
# (docs/figures.md). Only the simulator and the benchmarks link it, and never under the
# sanitizers, which bring their own allocator. Without libjemalloc-dev the build goes on with
# glibc's malloc, slower and otherwise the same.
find_library(OMNI_JEMALLOC NAMES jemalloc)
function(omni_fast_malloc target)
  if(OMNI_JEMALLOC AND NOT OMNI_SANITIZE)
    target_link_libraries(${target} PRIVATE ${OMNI_JEMALLOC})
  endif()
endfunction()
if(NOT OMNI_JEMALLOC)
  message(STATUS "libjemalloc-dev not found: omni-sim uses glibc's malloc (slower)")
endif()
