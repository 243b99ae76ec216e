"""`specs.json`: the original DeepSDF keys, checked, with defaults filled in.

An original experiment's specs run unchanged. A key this module does not know, or a value of the wrong
type, is a one-line `SpecsError` naming the key: a typo never silently falls back to a default.
"""
import json
from pathlib import Path


class SpecsError(ValueError):
    """A specs.json that cannot be used; the message names the file and the key."""


NETWORK_DEFAULTS = {
    "dims": [512] * 8,
    "dropout": list(range(8)),
    "dropout_prob": 0.2,
    "norm_layers": list(range(8)),
    "latent_in": [4],
    "xyz_in_all": False,
    "use_tanh": False,
    "latent_dropout": False,
    "weight_norm": True,
}

# key -> (accepted types, default). None as default means "required" for the data keys only.
TOP_LEVEL = {
    "Description": ((str, list), ""),
    "DataSource": ((str,), "data"),
    "TrainSplit": ((str,), None),
    "TestSplit": ((str,), None),
    "NetworkArch": ((str,), "deep_sdf_decoder"),
    "NetworkSpecs": ((dict,), {}),
    "CodeLength": ((int,), 256),
    "NumEpochs": ((int,), 2001),
    "SnapshotFrequency": ((int,), 1000),
    "AdditionalSnapshots": ((list,), [100, 500]),
    "LogFrequency": ((int,), 10),
    "LearningRateSchedule": ((list,), [
        {"Type": "Step", "Initial": 0.0005, "Interval": 500, "Factor": 0.5},
        {"Type": "Step", "Initial": 0.001, "Interval": 500, "Factor": 0.5},
    ]),
    "SamplesPerScene": ((int,), 16384),
    "ScenesPerBatch": ((int,), 64),
    "BatchSplit": ((int,), 1),
    "DataLoaderThreads": ((int,), 16),  # accepted for compatibility; samples are in memory here
    "ClampingDistance": ((int, float), 0.1),
    "CodeRegularization": ((bool,), True),
    "CodeRegularizationLambda": ((int, float), 1e-4),
    "CodeBound": ((int, float, type(None)), None),
    "CodeInitStdDev": ((int, float), 1.0),
    "GradientClipNorm": ((int, float, type(None)), None),
    "Seed": ((int,), 0),
}

NETWORK_TYPES = {
    "dims": (list,),
    "dropout": (list, type(None)),
    "dropout_prob": (int, float),
    "norm_layers": (list,),
    "latent_in": (list,),
    "xyz_in_all": (bool, type(None)),
    "use_tanh": (bool,),
    "latent_dropout": (bool,),
    "weight_norm": (bool,),
}

# Keys that may change between a run and its --resume: they say how long to run and how often to save.
RUN_LENGTH_KEYS = {"NumEpochs", "SnapshotFrequency", "AdditionalSnapshots", "LogFrequency", "Description",
                   "DataLoaderThreads"}


def _type_name(types):
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _check(where, key, value, types):
    # bool is an int in Python; do not let true pass for a number or 1 for a flag
    if isinstance(value, bool) and bool not in types:
        raise SpecsError(f"{where}: key '{key}' must be {_type_name(types)}, got {json.dumps(value)}")
    if not isinstance(value, types):
        if float in types and isinstance(value, int):
            return
        raise SpecsError(f"{where}: key '{key}' must be {_type_name(types)}, got {json.dumps(value)}")


def _check_int_list(where, key, value, minimum=0):
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value):
        raise SpecsError(f"{where}: key '{key}' must be a list of integers >= {minimum}, got {json.dumps(value)}")


def resolve(specs, where="specs.json"):
    """Check a specs dict and return a new one with every default filled in."""
    if not isinstance(specs, dict):
        raise SpecsError(f"{where}: must hold a JSON object")
    out = {}
    for key, value in specs.items():
        if key not in TOP_LEVEL:
            raise SpecsError(f"{where}: unknown key '{key}' (known: {', '.join(sorted(TOP_LEVEL))})")
        _check(where, key, value, TOP_LEVEL[key][0])
    for key, (_, default) in TOP_LEVEL.items():
        out[key] = specs.get(key, default)
    if isinstance(out["Description"], list):  # the original README crashed on this: join, do not concatenate
        out["Description"] = " ".join(str(s) for s in out["Description"])
    if out["NetworkArch"] != "deep_sdf_decoder":
        raise SpecsError(f"{where}: key 'NetworkArch' must be \"deep_sdf_decoder\", got {json.dumps(out['NetworkArch'])}")

    net = dict(NETWORK_DEFAULTS)
    for key, value in out["NetworkSpecs"].items():
        if key not in NETWORK_TYPES:
            raise SpecsError(f"{where}: unknown key 'NetworkSpecs.{key}' (known: {', '.join(sorted(NETWORK_TYPES))})")
        _check(where, f"NetworkSpecs.{key}", value, NETWORK_TYPES[key])
        net[key] = value
    net["dropout"] = net["dropout"] or []
    net["xyz_in_all"] = bool(net["xyz_in_all"])
    _check_int_list(where, "NetworkSpecs.dims", net["dims"], minimum=1)
    if not net["dims"]:
        raise SpecsError(f"{where}: key 'NetworkSpecs.dims' must list at least one layer width")
    n = len(net["dims"])
    for key in ("dropout", "norm_layers", "latent_in"):
        _check_int_list(where, f"NetworkSpecs.{key}", net[key])
        bad = [i for i in net[key] if i > n]
        if bad:
            raise SpecsError(f"{where}: key 'NetworkSpecs.{key}' names layer {bad[0]} but the network has {n} hidden layers")
    if 0 in net["latent_in"]:
        raise SpecsError(f"{where}: key 'NetworkSpecs.latent_in' cannot hold 0 (the input already holds the latent code)")
    if not 0 <= net["dropout_prob"] < 1:
        raise SpecsError(f"{where}: key 'NetworkSpecs.dropout_prob' must be in [0, 1), got {net['dropout_prob']}")
    out["NetworkSpecs"] = net

    for key in ("CodeLength", "NumEpochs", "SnapshotFrequency", "LogFrequency", "SamplesPerScene", "ScenesPerBatch",
                "BatchSplit"):
        if out[key] < 1:
            raise SpecsError(f"{where}: key '{key}' must be at least 1, got {out[key]}")
    if out["SamplesPerScene"] % 2:
        raise SpecsError(f"{where}: key 'SamplesPerScene' must be even (half from pos, half from neg), got {out['SamplesPerScene']}")
    _check_int_list(where, "AdditionalSnapshots", out["AdditionalSnapshots"], minimum=1)
    if out["ClampingDistance"] <= 0:
        raise SpecsError(f"{where}: key 'ClampingDistance' must be positive, got {out['ClampingDistance']}")

    from .learning_rate import schedules_from_specs  # validates each schedule with its own messages
    try:
        schedules_from_specs(out)
    except ValueError as e:
        raise SpecsError(f"{where}: {e}") from None
    return out


def load(path):
    """Read, check and resolve a specs.json file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecsError(f"{path}: no such file (an experiment folder needs a specs.json)") from None
    try:
        specs = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecsError(f"{path}: not valid JSON ({e})") from None
    return resolve(specs, where=str(path))


def differences(old, new, ignore=RUN_LENGTH_KEYS):
    """Keys whose resolved values differ, as printable lines; keys in `ignore` are allowed to differ."""
    lines = []
    for key in sorted(set(old) | set(new)):
        if key in ignore or old.get(key) == new.get(key):
            continue
        lines.append(f"  {key}: was {json.dumps(old.get(key))}, now {json.dumps(new.get(key))}")
    return lines
