"""Learning-rate schedules of the original DeepSDF: Step, Warmup and Constant, as a function of the epoch.

`LearningRateSchedule` in specs.json is a list: the first entry drives the decoder, the second the latent
codes (one entry drives both). Epochs count from 1, as in the original.
"""


class StepSchedule:
    """initial * factor ** (epoch // interval): the paper's schedule (halve every 500 epochs)."""

    def __init__(self, initial, interval, factor):
        self.initial, self.interval, self.factor = initial, interval, factor

    def __call__(self, epoch):
        return self.initial * self.factor ** (epoch // self.interval)


class WarmupSchedule:
    """Linear from `initial` to `final` over `length` epochs, then constant at `final`."""

    def __init__(self, initial, final, length):
        self.initial, self.final, self.length = initial, final, length

    def __call__(self, epoch):
        if epoch > self.length:
            return self.final
        return self.initial + (self.final - self.initial) * epoch / self.length


class ConstantSchedule:
    def __init__(self, value):
        self.value = value

    def __call__(self, epoch):
        return self.value


_KINDS = {
    "Step": (StepSchedule, ("Initial", "Interval", "Factor")),
    "Warmup": (WarmupSchedule, ("Initial", "Final", "Length")),
    "Constant": (ConstantSchedule, ("Value",)),
}


def make_schedule(entry, where="LearningRateSchedule"):
    if not isinstance(entry, dict) or "Type" not in entry:
        raise ValueError(f"key '{where}' entries must be objects with a 'Type' ({', '.join(_KINDS)})")
    kind = entry["Type"]
    if kind not in _KINDS:
        raise ValueError(f"key '{where}.Type' must be one of {', '.join(_KINDS)}, got {kind!r}")
    cls, keys = _KINDS[kind]
    extra = set(entry) - set(keys) - {"Type"}
    if extra:
        raise ValueError(f"key '{where}.{sorted(extra)[0]}' is not used by a {kind} schedule (it takes {', '.join(keys)})")
    values = []
    for key in keys:
        if key not in entry:
            raise ValueError(f"key '{where}.{key}' is missing (a {kind} schedule takes {', '.join(keys)})")
        v = entry[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f"key '{where}.{key}' must be a non-negative number, got {v!r}")
        values.append(v)
    if kind == "Step" and values[1] < 1:
        raise ValueError(f"key '{where}.Interval' must be at least 1, got {values[1]!r}")
    if kind == "Warmup" and values[2] <= 0:
        raise ValueError(f"key '{where}.Length' must be positive, got {values[2]!r}")
    return cls(*values)


def schedules_from_specs(specs):
    """(decoder schedule, latent code schedule) from a specs dict."""
    entries = specs["LearningRateSchedule"]
    if not 1 <= len(entries) <= 2:
        raise ValueError("key 'LearningRateSchedule' must list one or two schedules (decoder, then latent codes)")
    schedules = [make_schedule(e, f"LearningRateSchedule[{i}]") for i, e in enumerate(entries)]
    return schedules[0], schedules[-1]


def set_learning_rates(optimizer, schedules, epoch):
    """Param group i takes schedules[i](epoch). Returns the rates set."""
    rates = [s(epoch) for s in schedules]
    for group, lr in zip(optimizer.param_groups, rates):
        group["lr"] = lr
    return rates
