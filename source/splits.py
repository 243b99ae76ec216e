"""Train/test splits in DeepSDF's JSON format: {"<dataset>": {"<class>": ["<instance>", ...]}}."""
import json

import numpy as np

from .paths import atomic_path


def make_split(instances, test_fraction=0.2, seed=0):
    """instances: {dataset: {class: [instance, ...]}}. Per class, a seeded share goes to test
    (at least one when a class has two or more instances). Returns (train, test)."""
    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for dataset, classes in sorted(instances.items()):
        for cls, names in sorted(classes.items()):
            names = sorted(names)
            n_test = int(round(len(names) * test_fraction))
            if len(names) >= 2:
                n_test = min(max(n_test, 1), len(names) - 1)
            order = rng.permutation(len(names))
            chosen = {names[i] for i in order[:n_test]}
            train.setdefault(dataset, {})[cls] = [n for n in names if n not in chosen]
            test.setdefault(dataset, {})[cls] = [n for n in names if n in chosen]
    return train, test


def write_split(path, split):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(split, indent=2) + "\n")


def read_split(path):
    """[(dataset, class, instance), ...] in file order."""
    with open(path) as f:
        split = json.load(f)
    return [(d, c, i) for d, classes in split.items() for c, names in classes.items() for i in names]
