# Installs the minidl build in MINIDL_BUILD_DIR into a fresh prefix, then
# configures, builds and runs the consumer project against it with
# find_package(minidl), and does the same with the examples (examples/, as a
# user copying them would build them; one of them runs on a small slice of
# Fashion-MNIST). Fails (FATAL_ERROR) at the first step that fails.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${name}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

step("install" ${CMAKE_COMMAND} --install ${MINIDL_BUILD_DIR} --prefix ${prefix})
step("configure consumer" ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
     -DCMAKE_CXX_COMPILER=${CXX_COMPILER} "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
     "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}" -DCMAKE_PREFIX_PATH=${prefix}
     -DEXPECT_CUDA=${WITH_CUDA})
step("build consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
step("run consumer" ${WORK_DIR}/build/consumer)
if(NOT step_output MATCHES "consumer ok")
  message(FATAL_ERROR "the consumer did not report success:\n${step_output}")
endif()

if(EXAMPLES_SOURCE_DIR)
  step("configure examples" ${CMAKE_COMMAND} -S ${EXAMPLES_SOURCE_DIR} -B ${WORK_DIR}/examples -G ${GENERATOR}
       -DCMAKE_CXX_COMPILER=${CXX_COMPILER} "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
       "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}" -DCMAKE_PREFIX_PATH=${prefix})
  step("build examples" ${CMAKE_COMMAND} --build ${WORK_DIR}/examples)
  step("run example_save_export" ${WORK_DIR}/examples/example_save_export 500 ${WORK_DIR}/examples/out)
  if(NOT step_output MATCHES "the restored model predicts the same logits")
    message(FATAL_ERROR "example_save_export built against the install did not succeed:\n${step_output}")
  endif()
endif()
