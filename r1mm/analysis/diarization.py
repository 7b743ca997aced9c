"""Who spoke when: each utterance's voice as a GE2E speaker embedding (resemblyzer's d-vector
model, shipped in its wheel), utterances clustered by average-linkage agglomeration on cosine
distance, the number of voices chosen by the silhouette of the clustering.

Pitch alone (`speech.assign_voices`) cannot tell two voices of similar pitch apart; the embedding
can. Measured on real recordings (pocketsphinx's test speech, male voices at 95–115 Hz) and on
espeak-ng voices of one pitch: the best silhouette of a one-voice recording split in two or more
was 0.19–0.33, of a two- or three-voice call 0.38–0.77, hence ``MIN_SILHOUETTE``. Only utterances
of 1.5 s or more decide the voices (a short one's embedding strays); the others join the nearest.
Pitch is kept for utterances too short to embed. `bench finance` reports the diarization error
rate of both.
"""
from __future__ import annotations

import functools
import logging

import numpy as np

log = logging.getLogger(__name__)

MIN_EMBED_S = 0.5  # shorter utterances get the voice nearest in pitch
ANCHOR_S, MIN_ANCHORS = 1.5, 4  # utterances this long (if there are enough) decide the voices
MIN_SILHOUETTE = 0.36  # a split into several voices must be at least this clear (see the docstring)
SAME_VOICE_SIMILARITY = 0.75  # for two utterances, where a silhouette cannot be computed
MAX_VOICES = 8
RATE = 16000


@functools.lru_cache(maxsize=1)
def _encoder():
    from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


def voice_embeddings(samples: np.ndarray, rate: int, spans: list[tuple[float, float]]) -> list[np.ndarray | None]:
    """A unit 256-d speaker embedding per (start_s, end_s) span of 16 kHz audio; None when too short."""
    from resemblyzer.audio import normalize_volume

    assert rate == RATE, "audio is decoded to 16 kHz"
    encoder = _encoder()
    out = []
    for start, end in spans:
        clip = samples[int(start * rate): int(end * rate)].astype(np.float32)
        if clip.size < MIN_EMBED_S * rate or not np.abs(clip).max(initial=0) > 0:
            out.append(None)
            continue
        out.append(encoder.embed_utterance(normalize_volume(clip, -30, increase_only=True)))
    return out


def cluster_voices(embeddings: list[np.ndarray | None], pitches: list[float | None],
                   durations: list[float] | None = None) -> list[int]:
    """Voice numbers (1, 2, … in order of first appearance) for utterances, from their embeddings.

    The longest utterances (ANCHOR_S and over, when there are at least MIN_ANCHORS of them) are
    clustered: a short one's embedding strays. The others join the voice whose mean embedding is
    most similar; those without an embedding, the voice nearest in pitch (else the previous one)."""
    durations = durations or [ANCHOR_S] * len(embeddings)
    have = [k for k, e in enumerate(embeddings) if e is not None]
    anchors = have
    for shortest in (ANCHOR_S, 1.0):
        longer = [k for k in have if durations[k] >= shortest]
        if len(longer) >= MIN_ANCHORS:
            anchors = longer
            break
    labels = np.zeros(len(embeddings), int)
    if anchors:
        labels[anchors] = _cluster(np.stack([embeddings[k] for k in anchors]))
        voices = sorted(set(labels[anchors].tolist()))
        centres = np.stack([np.mean([embeddings[k] for k in anchors if labels[k] == v], axis=0) for v in voices])
        for k in set(have) - set(anchors):
            labels[k] = voices[int(np.argmax(centres @ embeddings[k]))]
    _place_unembedded(labels, pitches)
    return _in_order_of_appearance(labels)


def _cluster(vectors: np.ndarray) -> np.ndarray:
    """Cluster labels (1, 2, …) by average linkage on cosine distance, the count by silhouette."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if len(vectors) == 1:
        return np.ones(1, int)
    distance = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    if len(vectors) == 2:
        return np.array([1, 2]) if distance[0, 1] > 1 - SAME_VOICE_SIMILARITY else np.ones(2, int)
    tree = linkage(squareform(distance, checks=False), "average")
    chosen, best = np.ones(len(vectors), int), MIN_SILHOUETTE
    for k in range(2, min(MAX_VOICES, len(vectors) - 1) + 1):
        candidate = fcluster(tree, k, "maxclust")
        if len(set(candidate)) < 2:
            continue
        score = silhouette(distance, candidate)
        if score > best:
            best, chosen = score, candidate
    return chosen


def silhouette(distance: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (Rousseeuw, 1987) from a distance matrix; a singleton scores 0."""
    scores = []
    for i in range(len(labels)):
        same = (labels == labels[i])
        same[i] = False
        if not same.any():
            scores.append(0.0)
            continue
        a = distance[i, same].mean()
        b = min(distance[i, labels == other].mean() for other in set(labels.tolist()) - {labels[i]})
        scores.append((b - a) / max(a, b, 1e-12))
    return float(np.mean(scores))


def _place_unembedded(labels: np.ndarray, pitches: list[float | None]) -> None:
    """Utterances with no embedding (label 0) join the voice nearest in median pitch."""
    centres = {}
    for voice in set(labels.tolist()) - {0}:
        heard = [pitches[k] for k in np.flatnonzero(labels == voice) if pitches[k]]
        if heard:
            centres[voice] = float(np.median(heard))
    for k in np.flatnonzero(labels == 0):
        if pitches[k] and centres:
            labels[k] = min(centres, key=lambda v: abs(np.log(pitches[k] / centres[v])))
        else:
            labels[k] = labels[k - 1] if k > 0 and labels[k - 1] else 1


def _in_order_of_appearance(labels: np.ndarray) -> list[int]:
    order: dict[int, int] = {}
    return [order.setdefault(int(v), len(order) + 1) for v in labels]


def speaker_turns(spans: list[tuple[float, float]], voices: list[int],
                  max_gap_s: float = 0.5) -> list[tuple[float, float, int]]:
    """Who spoke when as turns: consecutive utterances of one voice less than ``max_gap_s`` apart
    joined into one turn (the pause between two sentences of a turn is that speaker's)."""
    turns: list[list] = []
    for (start, end), voice in sorted(zip(spans, voices)):
        if turns and turns[-1][2] == voice and start - turns[-1][1] < max_gap_s:
            turns[-1][1] = max(turns[-1][1], end)
        else:
            turns.append([start, end, voice])
    return [(a, b, v) for a, b, v in turns]


def diarization_error_rate(reference: list[tuple[float, float, str]], hypothesis: list[tuple[float, float, int]],
                           collar_s: float = 0.25, step_s: float = 0.01) -> float:
    """NIST-style DER: (missed speech + false alarm + speaker confusion) / reference speech time,
    with the best one-to-one mapping of hypothesis voices to reference speakers and a collar
    around each reference turn's ends that is not scored."""
    from scipy.optimize import linear_sum_assignment

    end = max([e for _, e, _ in reference] + [e for _, e, _ in hypothesis] + [0.0])
    frames = int(np.ceil(end / step_s)) + 1
    speakers = sorted({s for _, _, s in reference})
    voices = sorted({v for _, _, v in hypothesis})
    ref = np.full(frames, -1)
    scored = np.ones(frames, bool)
    for start, stop, who in reference:
        ref[int(start / step_s): int(stop / step_s)] = speakers.index(who)
    for start, stop, _ in reference:
        for edge in (start, stop):
            scored[max(0, int((edge - collar_s) / step_s)): int((edge + collar_s) / step_s)] = False
    hyp = np.full(frames, -1)
    for start, stop, voice in hypothesis:
        hyp[int(start / step_s): int(stop / step_s)] = voices.index(voice)
    ref, hyp = ref[scored], hyp[scored]
    total = int((ref >= 0).sum())
    if total == 0:
        return 0.0
    overlap = np.zeros((len(speakers), max(len(voices), 1)))
    both = (ref >= 0) & (hyp >= 0)
    np.add.at(overlap, (ref[both], hyp[both]), 1)
    rows, cols = linear_sum_assignment(-overlap)
    matched = overlap[rows, cols].sum()
    missed = int(((ref >= 0) & (hyp < 0)).sum())
    false_alarm = int(((ref < 0) & (hyp >= 0)).sum())
    confusion = int(both.sum() - matched)
    return (missed + false_alarm + confusion) / total
