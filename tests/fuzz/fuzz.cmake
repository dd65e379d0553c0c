# libFuzzer targets: one executable per tests/fuzz/fuzz_*.c, built when the C
# compiler links -fsanitize=fuzzer (clang does; gcc does not, and then this
# file adds nothing). They are not CTest tests: run them by hand, e.g.
#   ./fuzz_safetensors -max_total_time=60 corpus/
# Coverage guidance needs the library instrumented as well, so configure a
# fuzzing build with
#   CC=clang cmake -DLOSSBAL_SANITIZE=ON -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_FLAGS -fsanitize=fuzzer)
check_c_source_compiles([[
  #include <stddef.h>
  #include <stdint.h>
  int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
  int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return data && size ? 0 : 0;
  }]] LOSSBAL_HAVE_LIBFUZZER)
unset(CMAKE_REQUIRED_FLAGS)

if(LOSSBAL_HAVE_LIBFUZZER)
  file(GLOB _lb_fuzz_sources CONFIGURE_DEPENDS
       "${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_*.c")
  foreach(source IN LISTS _lb_fuzz_sources)
    get_filename_component(name "${source}" NAME_WE)
    add_executable(${name} "${source}")
    target_compile_options(${name} PRIVATE ${LOSSBAL_WARNINGS} -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE lossbal_testable)
  endforeach()
endif()
