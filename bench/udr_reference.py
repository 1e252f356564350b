"""Reference side of the UDR conformance fixtures: disentanglement_lib's own UDR (evaluation/udr/metrics/udr.py,
`compute_udr_sklearn`), run unchanged on fixed representations.

Usage: python udr_reference.py UDR_PY CASE.json [--write]
  UDR_PY   disentanglement_lib/evaluation/udr/metrics/udr.py at the commit named in test/fixtures/udr/README.md (the
           PyPI release 1.5 that scripts/setup-dlib-bench.sh installs predates the udr package, so the file is given
           by path and loaded as it is).
  CASE     a case of test/fixtures/udr/: its `models` (codes and per-dimension KL) are the inputs. Without --write it
           prints {"seconds", "cpu_seconds", "values"} (one entry per `runs` item); with --write it stores each run's
           expected outputs and the provenance in the case file.
gin and absl are stood in by small shims (udr.py only needs gin's decorator and absl's logging). TensorFlow is not
imported.
"""
import hashlib
import importlib.util
import json
import logging as _logging
import sys
import time
import types
import warnings

import numpy as np
import scipy
import sklearn

gin = types.ModuleType("gin")
gin.configurable = lambda *a, **k: (lambda fn: fn)
gin_tf = types.ModuleType("gin.tf")
gin.tf = gin_tf
sys.modules["gin"] = gin
sys.modules["gin.tf"] = gin_tf
absl = types.ModuleType("absl")
absl.logging = _logging
sys.modules["absl"] = absl
sys.modules["absl.logging"] = _logging


# The library's own NaN handling (a constant latent under Spearman, 0/0 in the relative strength) warns; the
# warnings say nothing the outputs do not.
warnings.simplefilter("ignore")


def load_udr(path):
    spec = importlib.util.spec_from_file_location("dlib_udr", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RowsInOrder:
    """Ground-truth data whose observations are row indices handed out in order, so that the library's sampled
    dataset is exactly the case's fixed rows."""

    def __init__(self):
        self.next = 0

    def sample_observations(self, num, random_state):
        rows = np.arange(self.next, self.next + num)
        self.next += num
        return rows


def run(udr, case, params):
    models = case["models"]
    codes = [np.array(m["codes"], dtype=np.float64) for m in models]
    kls = [np.array(m["kl"], dtype=np.float64) for m in models]
    fns = [(lambda rows, c=c, k=k: (c[rows], k)) for c, k in zip(codes, kls)]
    n = codes[0].shape[0]
    out = udr.compute_udr_sklearn(RowsInOrder(), fns, np.random.RandomState(0), batch_size=case["batch_size"],
                                  num_data_points=n, correlation_matrix=params["correlation_matrix"],
                                  filter_low_kl=params["filter_low_kl"], include_raw_correlations=True,
                                  kl_filter_threshold=params["kl_filter_threshold"])
    return {
        "model_scores": [float(v) for v in out["model_scores"]],
        "pairwise_disentanglement_scores": [[row[0] for row in m] for m in out["pairwise_disentanglement_scores"]],
        "raw_correlations": out["raw_correlations"],
    }


def finite_or_null(x):
    """JSON has no NaN: Spearman's correlation with a constant latent is NaN in the library, written as null."""
    if isinstance(x, dict):
        return {k: finite_or_null(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite_or_null(v) for v in x]
    return None if x != x else x


def main(udr_path, case_path, write):
    udr = load_udr(udr_path)
    case = json.load(open(case_path))
    seconds, cpu_seconds, values = {}, {}, {}
    for r in case["runs"]:
        t0, c0 = time.perf_counter(), time.process_time()
        values[r["name"]] = finite_or_null(run(udr, case, r["params"]))
        seconds[r["name"]] = time.perf_counter() - t0
        cpu_seconds[r["name"]] = time.process_time() - c0
        if write:
            r["expected"] = values[r["name"]]
    if write:
        case["reference"] = {
            "library": "google-research/disentanglement_lib",
            "file": "disentanglement_lib/evaluation/udr/metrics/udr.py",
            "udr_py_sha256": hashlib.sha256(open(udr_path, "rb").read()).hexdigest(),
            "call": "compute_udr_sklearn(data, fns, np.random.RandomState(0), batch_size, num_data_points=N, "
                    "correlation_matrix, filter_low_kl, include_raw_correlations=True, kl_filter_threshold)",
            "numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__,
        }
        json.dump(case, open(case_path, "w"), allow_nan=False)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "values": values}, allow_nan=False))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--write" in sys.argv[3:])
