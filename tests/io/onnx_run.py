"""Runs an ONNX model in ONNX Runtime on raw float32 inputs (the minidl ONNX test's oracle).

usage: onnx_run.py MODEL OUT_DIR INPUT:DIM,DIM,... [INPUT:DIMS ...]

Each INPUT is a file of little-endian float32 values in C order, fed to the
session's inputs in their declared order. Writes OUT_DIR/output<k>.bin (float32,
the session's outputs in declared order) and prints one line per output:
"<name> <dims>". The session runs on the CPU with graph optimisations off, so
ONNX Runtime computes exactly the operators the file names.
"""
import sys

import numpy as np
import onnxruntime as ort


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    model, out_dir = argv[0], argv[1]
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) != len(argv) - 2:
        sys.stderr.write(f"the model has {len(inputs)} inputs, {len(argv) - 2} were given\n")
        return 2
    feed = {}
    for info, spec in zip(inputs, argv[2:]):
        path, dims = spec.rsplit(":", 1)
        shape = [int(d) for d in dims.split(",")]
        feed[info.name] = np.fromfile(path, dtype="<f4").reshape(shape)
    results = session.run(None, feed)
    for k, (info, value) in enumerate(zip(session.get_outputs(), results)):
        np.ascontiguousarray(value, dtype="<f4").tofile(f"{out_dir}/output{k}.bin")
        print(info.name, ",".join(str(d) for d in value.shape))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
