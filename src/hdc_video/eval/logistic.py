"""Linear probe on frozen features (VCOP / CoCLR protocol).

A multinomial logistic regression (scikit-learn, L2, on standardised features) is fitted on the
clip features of the training videos (every clip is a sample). Clip top-1 scores every test clip
alone; video top-1 averages the predicted probabilities over a video's clips.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hdc_video.eval.features import Features


def probe_features(train: Features, test: Features, *args, **kwargs) -> dict[str, float]:
    """The probe's metrics (:func:`fit_probe` without the predictions)."""
    return fit_probe(train, test, *args, **kwargs)[0]


def fit_probe(
    train: Features,
    test: Features,
    train_labels: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
    C: float = 1.0,
    max_iter: int = 2000,
    seed: int = 0,
) -> tuple[dict[str, float], np.ndarray]:
    """:func:`probe_features`' metrics and the video-level predicted labels of the kept test videos
    (in index order)."""
    ytr = train.labels if train_labels is None else train_labels
    yte = test.labels if test_labels is None else test_labels
    tr, te = train.keep, test.keep
    n_clips = train.clips.shape[1]
    x = train.clips[tr].reshape(-1, train.clips.shape[-1])
    y = np.repeat(ytr[tr], n_clips)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    clf.fit(x, y)
    k = test.clips.shape[1]
    xt = test.clips[te].reshape(-1, test.clips.shape[-1])
    proba = clf.predict_proba(xt).reshape(te.sum(), k, -1)
    classes = clf.classes_
    clip_pred = classes[proba.argmax(-1)]
    video_pred = classes[proba.mean(1).argmax(-1)]
    yt = yte[te]
    return {
        "top1_clip": float((clip_pred == yt[:, None]).mean()),
        "top1_video": float((video_pred == yt).mean()),
        "train_videos": int(tr.sum()),
        "test_videos": int(te.sum()),
        "clips_per_video": int(k),
        "classes": int(len(np.unique(ytr[tr]))),
        "chance": float(1.0 / max(1, len(np.unique(ytr[tr])))),
    }, video_pred
