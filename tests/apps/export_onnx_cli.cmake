# minidl-train --export-onnx: trains one epoch on a small slice of Fashion-MNIST,
# writes the ONNX file, and runs it in ONNX Runtime (the project's .venv) on a
# batch of 3: the output must be [3, 10] logits.
#   cmake -DTRAIN=<minidl-train> -DPYTHON=<python> -DWORK_DIR=<dir> -P export_onnx_cli.cmake
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
foreach(model mlp cnn)
  set(onnx "${WORK_DIR}/${model}.onnx")
  set(args --model ${model} --device cpu --epochs 1 --train-limit 256 --test-limit 128 --no-progress
           --out "${WORK_DIR}/out" --export-onnx "${onnx}")
  if(model STREQUAL "cnn")
    list(APPEND args --channels 4,8 --hidden 32)
  endif()
  execute_process(COMMAND "${TRAIN}" ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "minidl-train --model ${model} --export-onnx failed (${rc}):\n${out}\n${err}")
  endif()
  if(NOT out MATCHES "ONNX model ${onnx}" OR NOT EXISTS "${onnx}")
    message(FATAL_ERROR "minidl-train did not report or write ${onnx}:\n${out}")
  endif()
  if("$ENV{MINIDL_SKIP_ONNXRUNTIME}" STREQUAL "1")
    message(STATUS "${model}: written; ONNX Runtime skipped (MINIDL_SKIP_ONNXRUNTIME=1)")
    continue()
  endif()
  if(NOT EXISTS "${PYTHON}")
    message(FATAL_ERROR "no Python with onnxruntime at ${PYTHON}: run tools/setup.sh "
                        "(or MINIDL_SKIP_ONNXRUNTIME=1 to skip this check explicitly)")
  endif()
  execute_process(
    COMMAND "${PYTHON}" -c
            "import sys, numpy, onnxruntime\ns = onnxruntime.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n(i,), (o,) = s.get_inputs(), s.get_outputs()\nr = s.run(None, {i.name: numpy.zeros((3, 784), numpy.float32)})[0]\nassert (i.name, o.name, r.shape) == ('x', 'logits', (3, 10)), (i.name, o.name, r.shape)\nassert numpy.isfinite(r).all()\nprint(i.name, i.shape, o.name, o.shape)"
            "${onnx}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "ONNX Runtime rejected ${onnx} (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${model}: ${out}")
endforeach()
# The SVM has no ONNX form: a clear error before any training.
execute_process(COMMAND "${TRAIN}" --model svm --export-onnx "${WORK_DIR}/svm.onnx"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "SVM has no ONNX export")
  message(FATAL_ERROR "--model svm --export-onnx should fail clearly, got (${rc}):\n${out}\n${err}")
endif()
