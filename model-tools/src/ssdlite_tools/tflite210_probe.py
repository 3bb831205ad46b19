"""Load a .tflite file with tflite-runtime, invoke it once, and print what happened as JSON.

Run as a script by `bsp_runtime.py` inside .venv/tflite210 (Debian bullseye Python 3.9 with the BSP's
tflite-runtime 2.10.0 and numpy 1.24.2). It must therefore import only the standard library, numpy
and tflite_runtime: never ssdlite_tools, never TensorFlow.

usage: python tflite210_probe.py MODEL [--input INPUT.npy] [--save-outputs OUT.npz] [--threads N]
Exit 0 with a JSON object on stdout when the model loaded and invoked; exit 1 with a JSON object
holding "error" and "stage" when it did not.
"""

import argparse
import json
import sys
import time


def _tensor_description(detail):
    scale, zero_point = detail["quantization"]
    return {
        "name": detail["name"],
        "shape": [int(d) for d in detail["shape"]],
        "dtype": detail["dtype"].__name__,
        "quantization": [float(scale), int(zero_point)] if scale else None,
    }


def _default_input(numpy, detail):
    # A fixed mid-grey-ish pattern: deterministic, within any quantised type's range, and not
    # constant (a constant input can hide broken spatial ops).
    shape = [int(d) for d in detail["shape"]]
    ramp = numpy.linspace(-0.5, 0.5, num=int(numpy.prod(shape)), dtype=numpy.float32).reshape(shape)
    scale, zero_point = detail["quantization"]
    if scale:
        info = numpy.iinfo(detail["dtype"])
        return numpy.clip(numpy.round(ramp / scale + zero_point), info.min, info.max).astype(detail["dtype"])
    return ramp.astype(detail["dtype"])


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--input", help=".npy holding the (single) input tensor")
    parser.add_argument("--save-outputs", help="write every output tensor to this .npz, keyed by index")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    report = {"python": sys.version.split()[0]}
    stage = "import"
    try:
        import numpy
        import tflite_runtime
        from tflite_runtime.interpreter import Interpreter

        report["numpy"] = numpy.__version__
        report["tflite_runtime"] = tflite_runtime.__version__
        stage = "load"
        interpreter = Interpreter(model_path=args.model, num_threads=args.threads)
        stage = "allocate_tensors"
        interpreter.allocate_tensors()
        inputs = interpreter.get_input_details()
        if len(inputs) != 1:
            raise ValueError(f"expected one input tensor, found {len(inputs)}")
        stage = "set_input"
        if args.input:
            data = numpy.load(args.input)
            if data.dtype != inputs[0]["dtype"] or list(data.shape) != list(inputs[0]["shape"]):
                raise ValueError(
                    f"input {data.dtype}{list(data.shape)} does not match the model's "
                    f"{inputs[0]['dtype'].__name__}{list(inputs[0]['shape'])}"
                )
        else:
            data = _default_input(numpy, inputs[0])
        interpreter.set_tensor(inputs[0]["index"], data)
        stage = "invoke"
        started = time.perf_counter()
        interpreter.invoke()
        report["invoke_ms"] = (time.perf_counter() - started) * 1e3
        outputs = interpreter.get_output_details()
        report["inputs"] = [_tensor_description(d) for d in inputs]
        report["outputs"] = [_tensor_description(d) for d in outputs]
        values = [interpreter.get_tensor(d["index"]) for d in outputs]
        report["outputs_finite"] = bool(all(numpy.isfinite(v.astype(numpy.float64)).all() for v in values))
        if args.save_outputs:
            stage = "save_outputs"
            numpy.savez(args.save_outputs, **{str(i): v for i, v in enumerate(values)})
    except Exception as error:  # report any failure as data: the caller turns it into a gate verdict
        report.update(stage=stage, error=f"{type(error).__name__}: {error}")
        print(json.dumps(report))
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
