"""Optuna's ask/tell for a dcign sweep, driven by workers/search-activities.ts over JSON lines on stdin/stdout.

Optuna (Akiba et al. 2019, "Optuna: A Next-generation Hyperparameter Optimization Framework") owns the sampling;
this program only maps a sweep's search space onto trial.suggest_* calls and keeps every request idempotent, so an
activity retried after a lost result gets the same answer: an ask is recorded under its request id in the study's
user attributes, and a tell skips trials that are already finished. The study lives in RDB storage (a SQLite file
beside the sweep, or PostgreSQL), which is also what optuna-dashboard reads.

One request per line: {"id", "op": "step", "storage", "study", "directions", "sampler", "seed", "space", "tell",
"ask", "request", "population"?}; one answer per line: {"id", "ok": true, "asked": [{"number", "params"}],
"finished": <trials finished in the study>} or {"id", "ok": false, "error", "fix"?}.
"""

import json
import sys
import warnings

import optuna
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.ERROR)
# Optuna's ExperimentalWarning and independent-sampling notices would go to stderr on every ask: the worker logs stderr.
warnings.filterwarnings("ignore")


class DriverError(Exception):
    def __init__(self, message, fix=None):
        super().__init__(message)
        self.fix = fix


def make_sampler(req, finished):
    name = req["sampler"]
    # Reseeded from the study's size: each request builds a fresh sampler from storage (the storage is the state), and a
    # fixed seed would make every batch of a random or startup phase draw the same points.
    seed = int(req.get("seed", 0)) + finished * 7919 + int(req.get("asks", 0))
    if name == "tpe":
        # Constant liar (Optuna's answer to batch parallelism): running trials count as bad results, so a batch of
        # concurrent asks spreads out instead of proposing the same point k times.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=int(req.get("startup", 10)))
    if name == "gp":
        try:
            import torch  # noqa: F401  (GPSampler's dependency)
        except ImportError as err:
            raise DriverError(
                "sampler gp (Optuna's GPSampler) needs PyTorch, which the optuna environment does not have",
                "DCIGN_OPTUNA_GP=1 bash scripts/setup-optuna.sh (adds torch from PyPI, several GB), or use sampler: tpe",
            ) from err
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=int(req.get("startup", 10)))
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, popsize=req.get("population"))
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=int(req.get("population") or 50))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise DriverError(f"unknown sampler {name!r}", "expected one of tpe, gp, cmaes, nsga2, random")


def suggest(trial, name, dist):
    if "choice" in dist:
        return trial.suggest_categorical(name, dist["choice"])
    if "intUniform" in dist:
        lo, hi = dist["intUniform"]
        return trial.suggest_int(name, int(lo), int(hi))
    if "logUniform" in dist:
        lo, hi = dist["logUniform"]
        return trial.suggest_float(name, float(lo), float(hi), log=True)
    if "uniform" in dist:
        lo, hi = dist["uniform"]
        return trial.suggest_float(name, float(lo), float(hi))
    raise DriverError(f"unknown distribution {json.dumps(dist)}")


def sample(trial, space):
    """The sweep's parameters of one trial: variant first (a conditional space), then its own, then the shared ones."""
    params = {}
    variants = space.get("variants")
    if variants:
        variant = trial.suggest_categorical("variant", list(variants.keys()))
        params["variant"] = variant
        for key, dist in variants[variant].items():
            # Named per variant in Optuna: two variants may give the same parameter different choices.
            params[key] = suggest(trial, f"{variant}.{key}", dist)
    for key, dist in space.get("params", {}).items():
        params[key] = suggest(trial, key, dist)
    return params


def params_of(frozen, space):
    out = {}
    variants = space.get("variants")
    if variants:
        variant = frozen.params["variant"]
        out["variant"] = variant
        for key in variants[variant]:
            out[key] = frozen.params[f"{variant}.{key}"]
    for key in space.get("params", {}):
        out[key] = frozen.params[key]
    return out


def step(req):
    directions = req["directions"]
    study = optuna.create_study(
        storage=req["storage"],
        study_name=req["study"],
        directions=directions,
        load_if_exists=True,
    )
    if list(d.name.lower() for d in study.directions) != [d.lower() for d in directions]:
        raise DriverError(
            f"study {req['study']} exists with directions {[d.name.lower() for d in study.directions]}, not {directions}",
            "start the sweep under a new name, or delete the study from its storage",
        )
    space = req["space"]
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    for told in req.get("tell", []):
        t = by_number.get(told["number"])
        if t is None:
            raise DriverError(f"study {req['study']} has no trial {told['number']} to tell")
        if t.state != TrialState.RUNNING:
            continue  # told before (a retried request)
        # Per-seed values and the interval, for the dashboard (user attributes are write-locked once a trial finishes).
        for k, v in (told.get("attrs") or {}).items():
            study._storage.set_trial_user_attr(t._trial_id, k, v)
        state = told.get("state", "complete")
        if state == "complete":
            study.tell(told["number"], told["values"] if len(directions) > 1 else told["values"][0])
        elif state == "pruned":
            study.tell(told["number"], state=TrialState.PRUNED)
        else:
            study.tell(told["number"], state=TrialState.FAIL)

    asked = []
    n = int(req.get("ask", 0))
    if n > 0:
        attr = f"dcign.ask.{req['request']}"
        numbers = study.user_attrs.get(attr)
        if numbers is None:
            finished = sum(1 for t in by_number.values() if t.state.is_finished())
            study.sampler = make_sampler(req, finished)
            numbers = []
            for _ in range(n):
                trial = study.ask()
                sample(trial, space)
                numbers.append(trial.number)
            study.set_user_attr(attr, numbers)
        trials = {t.number: t for t in study.get_trials(deepcopy=False)}
        asked = [{"number": num, "params": params_of(trials[num], space)} for num in numbers]
    finished = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    return {"asked": asked, "finished": finished}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = {}
        try:
            req = json.loads(line)
            if req.get("op") == "ping":
                out = {"ok": True, "optuna": optuna.__version__}
            elif req.get("op") == "step":
                out = {"ok": True, **step(req)}
            else:
                raise DriverError(f"unknown op {req.get('op')!r}", "expected step or ping")
        except DriverError as err:
            out = {"ok": False, "error": str(err), **({"fix": err.fix} if err.fix else {})}
        except Exception as err:  # noqa: BLE001  (reported to the activity, which fails with it)
            out = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        out["id"] = req.get("id") if isinstance(req, dict) else None
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
