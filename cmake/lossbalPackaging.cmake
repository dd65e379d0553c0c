# Release archives for packagers, built by `cpack` in the build directory:
#   lossbal-<version>-Linux.tar.gz   everything `cmake --install` installs
#   liblossbal1_<version>_<arch>.deb  runtime: liblossbal.so.1 and its file
#   liblossbal-dev_<version>_<arch>.deb  headers, liblossbal.so, .a, .pc, CMake
# split the way Debian splits a library. Configure with
# -DCMAKE_INSTALL_PREFIX=/usr for Debian's multiarch library directory.
set(CPACK_PACKAGE_NAME "lossbal")
set(CPACK_PACKAGE_VENDOR "liblossbal developers")
set(CPACK_PACKAGE_CONTACT "liblossbal developers <lossbal@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_RESOURCE_FILE_README "${PROJECT_SOURCE_DIR}/README.md")
set(CPACK_GENERATOR "TGZ;DEB")

# The tarball holds everything; the .deb files are one per component.
set(CPACK_ARCHIVE_COMPONENT_INSTALL OFF)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime development)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "${PROJECT_HOMEPAGE_URL}")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME "liblossbal${PROJECT_VERSION_MAJOR}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
  "${PROJECT_DESCRIPTION} (shared library)\n The loss-balance criterion family, tensors and training tools for\n classifiers trained on class-imbalanced data.")
# Written out rather than computed by dpkg-shlibdeps, which is not on a
# minimal machine; these are the runtime packages of the -dev packages that
# lossbalDependencies.cmake asks for.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS
  "libc6 (>= 2.34), libopenblas0 | libblas3, libpng16-16, libjpeg62-turbo, zlib1g")

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME "liblossbal-dev")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
  "${PROJECT_DESCRIPTION} (development files)\n Headers, static library, pkg-config and CMake package files of liblossbal.")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
  "liblossbal${PROJECT_VERSION_MAJOR} (= ${PROJECT_VERSION}), libopenblas-dev, libpng-dev, libjpeg62-turbo-dev | libjpeg-dev, zlib1g-dev")

include(CPack)
