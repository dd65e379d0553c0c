# The version lives in two places a user sees: project() here and the
# LB_VERSION_* macros of the public header. Refuse to configure when they
# disagree, so a release can never ship a header that lies about the library.
file(STRINGS "${PROJECT_SOURCE_DIR}/include/lossbal/lossbal.h" _lb_version_lines
  REGEX "^#define LB_VERSION_(MAJOR|MINOR|PATCH) [0-9]+$")
foreach(_lb_part MAJOR MINOR PATCH)
  string(REGEX MATCH "LB_VERSION_${_lb_part} ([0-9]+)" _lb_match "${_lb_version_lines}")
  set(_lb_header_${_lb_part} "${CMAKE_MATCH_1}")
endforeach()
set(_lb_header_version "${_lb_header_MAJOR}.${_lb_header_MINOR}.${_lb_header_PATCH}")
if(NOT _lb_header_version STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "include/lossbal/lossbal.h says version ${_lb_header_version}, "
                      "CMakeLists.txt says ${PROJECT_VERSION}: make them equal.")
endif()
