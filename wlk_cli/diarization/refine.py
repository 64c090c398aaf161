"""Refining speakers with the whole session's context.

Live, diart assigns each 5 s chunk's local speakers to global speakers as the chunk arrives, with only
the past to go on: a voice heard briefly at the start, or one that changed microphone distance, may
become a second speaker, and two speakers may share one centre for a while. Every chunk's segmentation
and embeddings are kept (``ChunkLog``); ``refine`` clusters all of the embeddings at once (average
linkage on cosine distance, the number of speakers from a distance threshold or given), assigns each
chunk's local speakers to those clusters (never two local speakers of one chunk to one cluster), and
aggregates the chunks again the way diart does (Hamming-weighted mean, then the activity threshold), so
the speech found is diart's and only who spoke changes. The clusters are mapped onto the live speakers
by overlap, so the labels already shown keep their names.

Gates keep the live labels when there is too little to go on, or when the result would merge two live
speakers that the segmentation heard at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wlk_cli.config import default_of

CHUNK_S = 5.0  # diart's window (diarizer.WINDOW_S; kept here so this module imports nothing heavy)
LOG_CHUNKS = 3600  # 30 min at 0.5 s steps (~15 MB): older chunks keep their live labels


@dataclass(frozen=True)
class RefineOptions:
    tau_active: float = default_of("tau_active")
    rho_update: float = default_of("rho_update")
    threshold: float = 0.6
    """Average-linkage cosine distance at which two clusters stay apart (benchmarks/diarization_refine.py:
    0.5 split AMI's far-field voices, 0.7 merged two LibriSpeech voices)."""
    num_speakers: int = default_of("num_speakers")
    max_speakers: int = default_of("max_speakers")
    min_chunks: int = 20
    """Fewer chunks with a long speaker than this (about 10 s of speech): keep the live labels."""
    min_cluster: int = 4
    """A cluster of fewer embeddings (about 2 s of speech) joins its nearest cluster."""
    cooccur: int = 3
    """Two live speakers heard at once in this many chunks are never merged by refine."""
    keep_apart: float = 0.4
    """Two live speakers whose mean embeddings are farther apart than this (cosine) are not merged:
    two LibriSpeech voices measured 0.43 apart, and average linkage joined them just under 0.6."""


def refine_options(settings: Any) -> RefineOptions | None:
    """A stream's refine options from its settings; None with ``--no-refine``."""
    from wlk_cli.config import options_for

    return options_for(RefineOptions, settings) if settings.refine else None


@dataclass
class ChunkLog:
    """Each chunk diart processed: its start, segmentation (frames x local speakers), embeddings (local
    speakers x dim) and the live assignment (local -> global speaker)."""

    max_chunks: int = LOG_CHUNKS
    starts: list[float] = field(default_factory=list)
    segmentations: list[np.ndarray] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    live: list[dict[int, int]] = field(default_factory=list)

    def add(self, start: float, segmentation: np.ndarray, embeddings: np.ndarray, live: dict[int, int]) -> None:
        self.starts.append(start)
        self.segmentations.append(segmentation.astype(np.float16))
        self.embeddings.append(embeddings.astype(np.float32))
        self.live.append(live)
        if len(self.starts) > self.max_chunks:
            drop = len(self.starts) - self.max_chunks
            del self.starts[:drop], self.segmentations[:drop], self.embeddings[:drop], self.live[:drop]

    def __len__(self) -> int:
        return len(self.starts)


@dataclass(frozen=True)
class RefinedTurn:
    start: float
    end: float
    speaker: int


@dataclass(frozen=True)
class Refined:
    turns: list[RefinedTurn]
    """The refined turns from the first logged chunk on; speakers are cluster numbers (``match`` maps
    them onto the labels shown)."""
    start: float
    """Stream time the turns cover from (earlier turns keep their live labels)."""
    live_to_cluster: dict[int, int]
    """Each live (diart) speaker's cluster, where most of its time went: for turns decided later."""
    centroids: dict[int, np.ndarray] = field(default_factory=dict)
    """Each cluster's mean embedding (unit), for naming known voices."""
    names: dict[int, str] = field(default_factory=dict)
    """Clusters found to be known voices (cluster -> profile name)."""


def aggregate(log: ChunkLog, assign: Sequence[dict[int, int]], tau: float) -> list[RefinedTurn]:
    """diart's aggregation of every chunk at once: each chunk's local speakers put in their global
    columns, a Hamming-weighted mean over the chunks that cover a frame, kept where >= ``tau``."""
    if not len(log):
        return []
    frames = log.segmentations[0].shape[0]
    res = CHUNK_S / frames
    first = round(log.starts[0] / res)
    n_frames = round(log.starts[-1] / res) - first + frames
    speakers = 1 + max((g for a in assign for g in a.values()), default=-1)
    if speakers == 0:
        return []
    acc = np.zeros((n_frames, speakers), dtype=np.float64)
    weight = np.zeros(n_frames, dtype=np.float64)
    window = np.hamming(frames)
    for start, seg, mapping in zip(log.starts, log.segmentations, assign):
        g0 = round(start / res) - first
        weight[g0 : g0 + frames] += window
        chunk = np.zeros((frames, speakers))
        for local, glob in mapping.items():  # two local speakers of one voice: the louder frame
            chunk[:, glob] = np.maximum(chunk[:, glob], seg[:, local])
        acc[g0 : g0 + frames] += window[:, None] * chunk
    active = acc >= tau * np.maximum(weight, 1e-9)[:, None]
    turns = []
    t0 = first * res
    for k in range(speakers):
        col = np.concatenate([[False], active[:, k], [False]])
        edges = np.flatnonzero(col[1:] != col[:-1])
        for a, b in zip(edges[::2], edges[1::2]):
            start, end = t0 + a * res, t0 + b * res
            if end > 0:
                turns.append(RefinedTurn(max(0.0, start), end, k))
    turns.sort(key=lambda t: (t.start, t.speaker))
    return turns


CO_ACTIVE_S = 0.1  # local speakers active together this long are two voices


def assign_chunk(segmentation: np.ndarray, dist: np.ndarray, share: float = np.inf) -> list[int]:
    """The cluster of each of one chunk's local speakers (columns of ``segmentation``) from their
    distances to the clusters (rows of ``dist``): the nearest, except that speakers heard at once
    (together for ``CO_ACTIVE_S``), or heard apart but not both nearer than ``share`` to the cluster they
    would share, get distinct clusters (Hungarian within each group of them); -1 for one left without
    a cluster (a group larger than the clusters).

    The segmentation model often gives one voice two local speakers across a pause; those are not held
    apart, which is what let the end of one speaker's phrase go to the next speaker."""
    from scipy.optimize import linear_sum_assignment

    n = dist.shape[0]
    chosen = [int(np.argmin(dist[i])) for i in range(n)]
    if n < 2:
        return chosen
    on = segmentation.astype(np.float32) >= 0.5
    frames = max(1, round(CO_ACTIVE_S * on.shape[0] / CHUNK_S))
    together = (on.T.astype(np.int32) @ on.astype(np.int32)) >= frames
    group = list(range(n))  # connected groups of speakers to keep apart (union-find)

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            same = chosen[i] == chosen[j]
            close = same and max(dist[i, chosen[i]], dist[j, chosen[j]]) < share
            if together[i, j] or (same and not close):
                group[root(j)] = root(i)
    for g in {root(i) for i in range(n)}:
        members = [i for i in range(n) if root(i) == g]
        if len(members) < 2:
            continue
        rows, cols = linear_sum_assignment(dist[members])
        for m in members:
            chosen[m] = -1
        for r, k in zip(rows, cols):
            chosen[members[r]] = int(k)
    return chosen


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)
    return out


def refine(log: ChunkLog, opts: RefineOptions | None = None, named: Mapping[int, str] | None = None) -> Refined | None:
    """Re-cluster the logged chunks; None when a gate keeps the live labels.

    ``named``: live speakers found to be known voices (speaker -> profile name). A refine that puts two
    differently named speakers in one cluster is refused like one that merges two voices heard at once
    (the segmentation runs two voices' adjacent turns into one local speaker, between the two, and
    average linkage then joins them)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    opts = opts or RefineOptions()
    items: list[tuple[int, int]] = []  # (chunk, local speaker) with a usable embedding
    long_items: list[int] = []  # indices into items that are long enough to cluster on
    for c, (seg, emb) in enumerate(zip(log.segmentations, log.embeddings)):
        seg32 = seg.astype(np.float32)
        active = seg32.max(axis=0) >= opts.tau_active
        long = seg32.mean(axis=0) >= opts.rho_update
        ok = ~np.isnan(emb).any(axis=1)
        for s in np.flatnonzero(active & ok):
            if long[s]:
                long_items.append(len(items))
            items.append((c, int(s)))
    if len(long_items) < opts.min_chunks:
        return None
    emb_all = _unit(np.stack([log.embeddings[c][s] for c, s in items]))
    x = emb_all[long_items]
    tree = linkage(x, method="average", metric="cosine")
    if opts.num_speakers:
        labels = fcluster(tree, opts.num_speakers, criterion="maxclust")
    else:
        # two live speakers whose voices are clearly apart are not merged: cut lower until they are not
        live_of = np.array([log.live[items[i][0]].get(items[i][1], -1) for i in long_items])
        apart = _apart(x, live_of, opts.keep_apart)
        threshold = opts.threshold
        while True:
            labels = fcluster(tree, threshold, criterion="distance")
            if opts.max_speakers and labels.max() > opts.max_speakers:
                labels = fcluster(tree, opts.max_speakers, criterion="maxclust")
            majority = {g: np.bincount(labels[live_of == g]).argmax() for g in {g for pair in apart for g in pair}}
            if threshold <= opts.keep_apart or all(majority[a] != majority[b] for a, b in apart):
                break
            threshold -= 0.05
    sizes = np.bincount(labels)
    keep = [k for k in range(1, labels.max() + 1) if sizes[k] >= opts.min_cluster] or [int(np.argmax(sizes))]
    centroids = _unit(np.stack([x[labels == k].mean(axis=0) for k in keep]))

    # each chunk's local speakers onto the clusters; two heard at once never onto the same one
    by_chunk: dict[int, list[int]] = {}
    for i, (c, _) in enumerate(items):
        by_chunk.setdefault(c, []).append(i)
    assign: list[dict[int, int]] = [{} for _ in range(len(log))]
    dist = 1.0 - emb_all @ centroids.T
    for c, idx in by_chunk.items():
        local = [items[i][1] for i in idx]
        chosen = assign_chunk(log.segmentations[c][:, local], dist[idx], opts.threshold)
        # more voices at once than clusters: the extra one goes to its nearest
        assign[c] = {s: k if k >= 0 else int(np.argmin(dist[i])) for s, k, i in zip(local, chosen, idx)}
    turns = aggregate(log, assign, opts.tau_active)
    live_turns = aggregate(log, log.live, opts.tau_active)
    n_live = 1 + max((t.speaker for t in live_turns), default=-1)
    overlap = _overlap(turns, live_turns, len(centroids), n_live)
    live_to_cluster = {j: int(np.argmax(overlap[:, j])) for j in range(n_live) if overlap[:, j].any()}

    # gate: two live speakers heard at once must not become one
    together: dict[tuple[int, int], int] = {}
    for seg, live in zip(log.segmentations, log.live):
        on = seg.astype(np.float32) >= 0.5
        frames = max(1, round(CO_ACTIVE_S * on.shape[0] / CHUNK_S))
        local = sorted(live)
        for i, a in enumerate(local):
            for b in local[i + 1 :]:
                if live[a] != live[b] and int((on[:, a] & on[:, b]).sum()) >= frames:
                    pair = (min(live[a], live[b]), max(live[a], live[b]))
                    together[pair] = together.get(pair, 0) + 1
    for (a, b), n in together.items():
        if n >= opts.cooccur and a in live_to_cluster and live_to_cluster.get(a) == live_to_cluster.get(b):
            return None
    # gate: two known voices must not become one
    named = {g: n for g, n in (named or {}).items() if g in live_to_cluster}
    if any(named[a] != named[b] and live_to_cluster[a] == live_to_cluster[b] for a in named for b in named):
        return None
    return Refined(turns, max(0.0, log.starts[0]), live_to_cluster, dict(enumerate(centroids)))


def _apart(x: np.ndarray, live_of: np.ndarray, limit: float, least: int = 6) -> list[tuple[int, int]]:
    """Pairs of live speakers (each with at least ``least`` embeddings) whose mean embeddings are more
    than ``limit`` apart in cosine distance."""
    speakers = [int(g) for g in np.unique(live_of) if g >= 0 and int((live_of == g).sum()) >= least]
    means = {g: _unit(x[live_of == g].mean(axis=0)) for g in speakers}
    return [
        (a, b) for i, a in enumerate(speakers) for b in speakers[i + 1 :] if 1.0 - float(means[a] @ means[b]) > limit
    ]


def _overlap(a: Sequence[RefinedTurn], b: Sequence[RefinedTurn], n_a: int, n_b: int) -> np.ndarray:
    """Seconds each speaker of ``a`` overlaps each speaker of ``b`` (two sorted turn lists)."""
    out = np.zeros((max(1, n_a), max(1, n_b)))
    j0 = 0
    for x in a:
        while j0 < len(b) and b[j0].end <= x.start - 60.0:  # turns are short; skip what ended long before
            j0 += 1
        for y in b[j0:]:
            if y.start >= x.end:
                break
            o = min(x.end, y.end) - max(x.start, y.start)
            if o > 0 and x.speaker < out.shape[0] and y.speaker < out.shape[1]:
                out[x.speaker, y.speaker] += o
    return out


def match(refined: Sequence[RefinedTurn], shown: Sequence[RefinedTurn]) -> dict[int, int]:
    """Refined speaker -> shown speaker with the most time in common (one-to-one, Hungarian); a refined
    speaker that matches none is left out (it gets a new label)."""
    from scipy.optimize import linear_sum_assignment

    n_a = 1 + max((t.speaker for t in refined), default=-1)
    n_b = 1 + max((t.speaker for t in shown), default=-1)
    if not n_a or not n_b:
        return {}
    overlap = _overlap(sorted(refined, key=lambda t: t.start), sorted(shown, key=lambda t: t.start), n_a, n_b)
    rows, cols = linear_sum_assignment(-overlap)
    return {int(r): int(c) for r, c in zip(rows, cols) if overlap[r, c] > 0}
