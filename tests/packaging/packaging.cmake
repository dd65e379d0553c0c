# Tests of the artefacts as a packager and a consumer see them: exported
# symbols and SONAME, an installed tree used by find_package and pkg-config,
# and the cpack archives. They need bash and binutils (readelf, nm).
set(_lb_pkg "${CMAKE_CURRENT_SOURCE_DIR}/packaging")

add_test(NAME test_exports
  COMMAND bash "${_lb_pkg}/check_exports.sh"
          $<TARGET_FILE:lossbal> $<TARGET_FILE:lossbal_static>
          ${PROJECT_VERSION})

add_test(NAME test_install_consumers
  COMMAND bash "${_lb_pkg}/check_install.sh" "${PROJECT_BINARY_DIR}"
          "${_lb_pkg}/consumer" "${CMAKE_CURRENT_BINARY_DIR}/install-check"
          "${CMAKE_C_COMPILER}")

add_test(NAME test_cpack
  COMMAND bash "${_lb_pkg}/check_cpack.sh" "${PROJECT_BINARY_DIR}"
          "${CMAKE_CURRENT_BINARY_DIR}/cpack-check" ${PROJECT_VERSION})
# Both read the same build tree; cpack may touch it, so never run at once.
set_tests_properties(test_install_consumers test_cpack PROPERTIES
  RESOURCE_LOCK build_tree_install)
