"""Penguins in, predictions out: model lookup -> features -> probabilities -> response rows."""

from collections import defaultdict

import numpy as np

from app.errors import ApiError
from app.schemas import Penguin
from taller_mlflow.serving import ModelLoadFailed, ModelNotFound, ModelRegistry


def all_cached(registry: ModelRegistry, penguins: list[Penguin]) -> bool:
    """True when every model the penguins ask for is already loaded (no registry call needed)."""
    for text in {p.model for p in penguins}:
        try:
            if registry.cached(registry.parse(text)) is None:
                return False
        except ValueError:
            continue  # predict_group answers 422
    return True


def predict_all(registry: ModelRegistry, penguins: list[Penguin]) -> list[dict]:
    """One answer per penguin, in order; penguins asking for different models are grouped."""
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, p in enumerate(penguins):
        groups[p.model].append(i)
    if len(groups) == 1:
        return predict_group(registry, penguins[0].model, penguins)
    out: list[dict | None] = [None] * len(penguins)
    for model_text, idx in groups.items():
        answers = predict_group(registry, model_text, [penguins[i] for i in idx])
        for i, answer in zip(idx, answers, strict=True):
            out[i] = answer
    return out


def lookup(registry: ModelRegistry, model_text: str | None):
    try:
        ref = registry.parse(model_text)
    except ValueError as exc:
        raise ApiError(422, f"model: {exc}") from exc
    try:
        model, resolution = registry.get(ref)
    except ModelNotFound as exc:
        raise ApiError(404, str(exc), available_models=registry.model_names()) from exc
    except ModelLoadFailed as exc:
        retry = str(max(1, round(exc.failure.retry_in)))
        raise ApiError(503, str(exc), headers={"Retry-After": retry}) from exc
    return ref, model, resolution


def predict_group(registry: ModelRegistry, model_text: str | None, penguins: list[Penguin]):
    ref, model, resolution = lookup(registry, model_text)
    # Hot path: the validated penguins' own field dicts (the fast path and the scikit-learn
    # DataFrame pick FEATURES from them), one vectorised argmax, plain floats.
    proba = model.predict_proba([p.__dict__ for p in penguins])
    note = None
    if resolution.via == "latest":
        note = f"model {ref.name} has no alias '{ref.alias}': serving its latest version"
    classes = model.classes
    labels = np.asarray(classes, dtype=object)[proba.argmax(axis=1)].tolist()
    alias = ref.alias if resolution.via == "alias" else None
    common = {"model": model.name, "version": model.version, "resolved_by": resolution.via}
    return [
        {
            "prediction": label,
            **common,
            "alias": alias,
            "probabilities": dict(zip(classes, [round(p, 6) for p in row], strict=True)),
            "note": note,
        }
        for label, row in zip(labels, proba.tolist(), strict=True)
    ]


def labels_of(model, proba: np.ndarray) -> list[str]:
    return np.asarray(model.classes, dtype=object)[proba.argmax(axis=1)].tolist()


def score_columns(registry: ModelRegistry, model_text: str | None, features: dict):
    """(model, resolution, probabilities) for validated feature columns (app/columns.py)."""
    _, model, resolution = lookup(registry, model_text)
    return model, resolution, model.predict_proba_columns(features)


def is_cached(registry: ModelRegistry, model_text: str | None) -> bool:
    try:
        return registry.cached(registry.parse(model_text)) is not None
    except ValueError:
        return True  # lookup answers the malformed reference
