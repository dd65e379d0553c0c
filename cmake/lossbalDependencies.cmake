# Finds what liblossbal links against, all from Debian packages, and fails with
# the name of the apt package to install when something is missing.
#
# Used twice: by the build itself and, installed, by lossbalConfig.cmake, so a
# consumer of the static library gets the same imported targets.
include_guard(GLOBAL)

function(_lossbal_missing what package)
  message(FATAL_ERROR
    "liblossbal needs ${what}, which was not found.\n"
    "On Debian or Ubuntu install it with:  apt-get install ${package}")
endfunction()

# OpenBLAS through its CBLAS interface. Debian installs it under an
# alternatives-managed multiarch directory; pkg-config knows where.
if(NOT TARGET LossbalDeps::OpenBLAS)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(_LOSSBAL_PC_OPENBLAS QUIET openblas)
  endif()
  find_path(LOSSBAL_OPENBLAS_INCLUDE_DIR
    NAMES cblas.h
    HINTS ${_LOSSBAL_PC_OPENBLAS_INCLUDE_DIRS}
    PATH_SUFFIXES openblas openblas-pthread)
  find_library(LOSSBAL_OPENBLAS_LIBRARY
    NAMES openblas
    HINTS ${_LOSSBAL_PC_OPENBLAS_LIBRARY_DIRS})
  if(NOT LOSSBAL_OPENBLAS_INCLUDE_DIR OR NOT LOSSBAL_OPENBLAS_LIBRARY)
    _lossbal_missing("OpenBLAS (cblas.h and libopenblas)" "libopenblas-dev")
  endif()
  add_library(LossbalDeps::OpenBLAS UNKNOWN IMPORTED)
  set_target_properties(LossbalDeps::OpenBLAS PROPERTIES
    IMPORTED_LOCATION "${LOSSBAL_OPENBLAS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${LOSSBAL_OPENBLAS_INCLUDE_DIR}")
endif()

find_package(PNG QUIET)
if(NOT PNG_FOUND)
  _lossbal_missing("libpng" "libpng-dev")
endif()

find_package(JPEG QUIET)
if(NOT JPEG_FOUND)
  _lossbal_missing("libjpeg-turbo" "libjpeg62-turbo-dev")
endif()

find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  _lossbal_missing("zlib" "zlib1g-dev")
endif()

find_package(Threads REQUIRED)
