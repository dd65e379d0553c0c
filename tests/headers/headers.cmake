# Every public header must compile on its own, first in its translation unit,
# as strict C11 and as C++17, with no warning. One generated source per header
# and language is built into test_headers, whose main (C++) also checks that
# the C functions link from C++ (a missing extern "C" fails the link).
include(CheckLanguage)
check_language(CXX)
if(NOT CMAKE_CXX_COMPILER)
  message(FATAL_ERROR "The header tests need a C++ compiler.\n"
                      "On Debian or Ubuntu install it with:  apt-get install g++")
endif()
enable_language(CXX)

file(GLOB LOSSBAL_PUBLIC_HEADERS CONFIGURE_DEPENDS
     "${PROJECT_SOURCE_DIR}/include/lossbal/*.h")
set(_lb_header_sources "")
foreach(header IN LISTS LOSSBAL_PUBLIC_HEADERS)
  get_filename_component(stem "${header}" NAME_WE)
  foreach(ext c cpp)
    set(source "${CMAKE_CURRENT_BINARY_DIR}/headers/alone_${stem}.${ext}")
    file(WRITE "${source}.in"
      "#include <lossbal/${stem}.h>\n"
      "/* Something to compile, so the unit is not empty. */\n"
      "int lb_header_alone_${stem}_${ext}(void);\n"
      "int lb_header_alone_${stem}_${ext}(void) { return LB_OK; }\n")
    configure_file("${source}.in" "${source}" COPYONLY)
    list(APPEND _lb_header_sources "${source}")
  endforeach()
endforeach()

add_executable(test_headers headers/link_from_cxx.cpp ${_lb_header_sources})
target_link_libraries(test_headers PRIVATE lossbal)
set_target_properties(test_headers PROPERTIES
  C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF
  CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
target_compile_options(test_headers PRIVATE -Wall -Wextra -Werror -pedantic)
add_test(NAME test_headers COMMAND test_headers)
