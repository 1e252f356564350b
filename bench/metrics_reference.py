"""Reference side of bench/metrics.ts: google-research/disentanglement_lib's metric modules, run unchanged.

Usage: python metrics_reference.py CASE.json  -> one JSON object on stdout: {"seconds", "cpu_seconds", "values"} per metric.
gin, absl and six are stood in by small shims (the metric modules only need gin's bindings, absl's logging and
six.moves.range); the bindings are those of the library's config/unsupervised_study_v1/metric_configs/*.gin, as the
README of test/fixtures/conformance/ describes. TensorFlow is not imported.
"""
import functools
import inspect
import json
import logging as _logging
import sys
import time
import types

import numpy as np

# --- shims -----------------------------------------------------------------------------------------------------
REQUIRED = object()
_REGISTRY = {}
_BINDINGS = {
    ("discretizer", "discretizer_fn"): "@histogram_discretizer",
    ("discretizer", "num_bins"): 20,
    ("prune_dims", "threshold"): 0.05,
}


def configurable(name_or_fn=None, module=None, blacklist=None, denylist=None, allowlist=None, whitelist=None):
    def wrap(fn, name):
        _REGISTRY[name] = fn
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = sig.bind_partial(*args, **kwargs)
            for pname in sig.parameters:
                if pname in bound.arguments:
                    continue
                if (name, pname) in _BINDINGS:
                    value = _BINDINGS[(name, pname)]
                    if isinstance(value, str) and value.startswith("@"):
                        value = _REGISTRY[value[1:]]
                    kwargs[pname] = value
            return fn(*args, **kwargs)

        return wrapper

    if callable(name_or_fn):
        return wrap(name_or_fn, name_or_fn.__name__)
    return lambda fn: wrap(fn, name_or_fn or fn.__name__)


gin = types.ModuleType("gin")
gin.REQUIRED = REQUIRED
gin.configurable = configurable
gin_tf = types.ModuleType("gin.tf")
gin.tf = gin_tf
sys.modules["gin"] = gin
sys.modules["gin.tf"] = gin_tf
absl = types.ModuleType("absl")
absl.logging = _logging
sys.modules["absl"] = absl
sys.modules["absl.logging"] = _logging
six = types.ModuleType("six")
six_moves = types.ModuleType("six.moves")
six_moves.range = range
six.moves = six_moves
sys.modules["six"] = six
sys.modules["six.moves"] = six_moves

from disentanglement_lib.evaluation.metrics import beta_vae, dci, factor_vae, irs, mig  # noqa: E402
from disentanglement_lib.evaluation.metrics import modularity_explicitness, sap_score, utils  # noqa: E402


class LinearGroundTruth:
    """The case's generative input: uniform factors, observations are the factor vectors."""

    def __init__(self, factor_sizes):
        self.factors_num_values = list(factor_sizes)
        self.num_factors = len(factor_sizes)

    def sample_factors(self, num, random_state):
        factors = np.zeros((num, self.num_factors), dtype=np.int64)
        for k, size in enumerate(self.factors_num_values):
            factors[:, k] = random_state.randint(size, size=num)
        return factors

    def sample_observations_from_factors(self, factors, random_state):
        return factors.astype(np.float64)

    def sample_observations(self, num, random_state):
        return self.sample_observations_from_factors(self.sample_factors(num, random_state), random_state)

    def sample(self, num, random_state):
        f = self.sample_factors(num, random_state)
        return f, self.sample_observations_from_factors(f, random_state)


def main(path):
    case = json.load(open(path))
    rep = case["representation"]
    W = np.array(rep["W"], dtype=np.float64)
    b = np.array(rep["b"], dtype=np.float64)
    sigma = np.array(rep["noise_sigma"], dtype=np.float64)
    noise = np.random.RandomState(1000)

    def representation(obs):
        return obs @ W.T + b + sigma * noise.standard_normal((obs.shape[0], W.shape[0]))

    fs = case["fixed_sample"]
    n_train = fs["num_train"]
    codes = np.array(fs["codes"], dtype=np.float64)
    factors = np.array(fs["factors"], dtype=np.int64)
    mus_train, ys_train = codes[:n_train].T, factors[:n_train].T
    mus_test, ys_test = codes[n_train:].T, factors[n_train:].T
    gt = LinearGroundTruth(case["factor_sizes"])
    seconds, cpu_seconds, values = {}, {}, {}

    def timed(name, fn):
        np.random.seed(0)
        t0, c0 = time.perf_counter(), time.process_time()
        values[name] = fn()
        seconds[name] = time.perf_counter() - t0
        cpu_seconds[name] = time.process_time() - c0

    metrics = case["metrics"]
    if "mig" in metrics:
        timed("mig", lambda: {"discrete_mig": float(mig._compute_mig(mus_train, ys_train)["discrete_mig"])})
    if "sap_score" in metrics:
        timed("sap_score", lambda: {"SAP_score": float(sap_score._compute_sap(mus_train, ys_train, mus_test, ys_test, False)["SAP_score"])})
    if "sap_score_continuous_factors" in metrics:
        timed("sap_score_continuous_factors", lambda: {"SAP_score": float(sap_score._compute_sap(mus_train, ys_train, mus_test, ys_test, True)["SAP_score"])})
    if "modularity" in metrics:
        timed("modularity", lambda: {"modularity_score": float(modularity_explicitness.modularity(
            utils.discrete_mutual_info(utils.make_discretizer(mus_train), ys_train)))})
    if "explicitness" in metrics:
        def explicitness():
            tr, mean, std = utils.normalize_data(mus_train)
            te, _, _ = utils.normalize_data(mus_test, mean, std)
            scores = [modularity_explicitness.explicitness_per_factor(tr, ys_train[i], te, ys_test[i])
                      for i in range(ys_train.shape[0])]
            return {"explicitness_score_train": float(np.mean([s[0] for s in scores])),
                    "explicitness_score_test": float(np.mean([s[1] for s in scores]))}
        timed("explicitness", explicitness)
    if "dci" in metrics:
        timed("dci", lambda: {k: float(v) for k, v in dci._compute_dci(mus_train, ys_train, mus_test, ys_test).items()})
    if "irs" in metrics:
        timed("irs", lambda: {"IRS": float(irs.scalable_disentanglement_score(
            utils.make_discretizer(ys_train).T, irs._drop_constant_dims(mus_train).T, 0.99)["avg_score"])})
    if "beta_vae" in metrics:
        timed("beta_vae", lambda: {k: float(v) for k, v in beta_vae.compute_beta_vae_sklearn(
            gt, representation, np.random.RandomState(0), None, batch_size=64, num_train=10000, num_eval=5000).items()})
    if "factor_vae" in metrics:
        timed("factor_vae", lambda: {k: float(v) for k, v in factor_vae.compute_factor_vae(
            gt, representation, np.random.RandomState(0), None, batch_size=64, num_train=10000, num_eval=5000,
            num_variance_estimate=10000).items() if k != "num_active_dims"})
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "values": values}))


if __name__ == "__main__":
    main(sys.argv[1])
