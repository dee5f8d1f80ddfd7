# Runs `MPIRUN -np 2 FAULT MODE` (MPIRUN: the launcher and its options, '|'
# separated) and checks that the job ends non-zero within LIMIT seconds and that
# its output names rank 1 and contains EXPECT.
string(REPLACE "|" ";" mpirun "${MPIRUN}")
string(TIMESTAMP t0 "%s")
execute_process(COMMAND ${mpirun} -np 2 ${FAULT} ${MODE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
string(TIMESTAMP t1 "%s")
math(EXPR seconds "${t1} - ${t0}")
set(all "${out}\n${err}")
message(STATUS "mode ${MODE}: exit '${rc}' after ${seconds} s; output:\n${all}")
if(rc STREQUAL "0")
  message(FATAL_ERROR "the job exited 0 although rank 1 failed")
endif()
if(rc MATCHES "timeout|Process terminated due to timeout")
  message(FATAL_ERROR "the job hung (killed after 120 s)")
endif()
if(seconds GREATER LIMIT)
  message(FATAL_ERROR "the job took ${seconds} s to end (limit ${LIMIT} s)")
endif()
string(FIND "${all}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the output does not contain \"${EXPECT}\"")
endif()
