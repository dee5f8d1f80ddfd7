# install() rules and the exported package: another project writes
#   find_package(minidl REQUIRED)
#   target_link_libraries(app PRIVATE minidl::minidl)
include(CMakePackageConfigHelpers)

install(TARGETS minidl EXPORT minidlTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES minidl.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/minidl)
foreach(dir core kernels layers optim data io svm training dist)
  # dispatch.hpp is internal; cuda_check.hpp needs the CUDA headers, so it is
  # installed only with the CUDA backend.
  set(minidl_cuda_header_rule)
  if(NOT MINIDL_WITH_CUDA)
    set(minidl_cuda_header_rule PATTERN "cuda_check.hpp" EXCLUDE)
  endif()
  install(DIRECTORY ${dir} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/minidl
          FILES_MATCHING PATTERN "*.hpp" PATTERN "dispatch.hpp" EXCLUDE PATTERN "checks.hpp" EXCLUDE
          PATTERN "elementwise_cpu.hpp" EXCLUDE PATTERN "update_cpu.hpp" EXCLUDE PATTERN "loader_cuda.hpp" EXCLUDE
          PATTERN "pool2d_math.hpp" EXCLUDE PATTERN "smo_step.hpp" EXCLUDE
          PATTERN "conv2d_igemm.hpp" EXCLUDE PATTERN "conv2d_cpu.hpp" EXCLUDE PATTERN "online_softmax.hpp" EXCLUDE
          PATTERN "conv2d_algo.hpp" EXCLUDE PATTERN "chunked_sum.hpp" EXCLUDE
          PATTERN "alias.hpp" EXCLUDE PATTERN "ce_tile.hpp" EXCLUDE PATTERN "working_set.hpp" EXCLUDE
          PATTERN "mpi_detail.hpp" EXCLUDE PATTERN "nccl_detail.hpp" EXCLUDE
          PATTERN "collectives_detail.hpp" EXCLUDE ${minidl_cuda_header_rule})
endforeach()
install(EXPORT minidlTargets NAMESPACE minidl:: FILE minidlTargets.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/minidl)

set(MINIDL_CONFIG_WITH_CUDA ${MINIDL_WITH_CUDA})
configure_package_config_file(cmake/minidlConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/minidlConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/minidl)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/minidlConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/minidlConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/minidlConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/minidl)
