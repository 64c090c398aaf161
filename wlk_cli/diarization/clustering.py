"""Online speaker clustering: diart's constrained incremental clustering, with one change.

Each 5 s chunk's local speakers (the segmentation model's columns) are matched to global centres by
cosine distance: within ``delta_new`` a local speaker joins its centre (and, when it speaks for at least
``rho_update`` of the chunk, moves it); a long one that matches none opens a new centre while there is
room; a short one goes to the nearest centre left. diart matches a chunk's local speakers one-to-one
(Hungarian) with the centres. The segmentation model often gives one voice two local speakers on the
two sides of a pause; one-to-one then forced the second part onto another speaker or a new one (the
end of one speaker's phrase went to the next speaker). Here only local speakers heard at the same
time must go to distinct centres (``refine.assign_chunk``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wlk_cli.diarization.refine import ChunkLog, assign_chunk

SHARE = 0.2  # cosine distance: a voice split across a pause by the segmentation stays one voice
FAR = 2.0  # a distance no match takes
SEED_WEIGHT = 5.0  # a known voice's centre starts as this many chunks' worth of its profile


class OnlineClustering:
    def __init__(
        self, tau_active: float, rho_update: float, delta_new: float, max_speakers: int, log: ChunkLog
    ) -> None:
        self.tau_active = tau_active
        self.rho_update = rho_update
        self.delta_new = delta_new
        self.max_speakers = max_speakers
        self.log = log
        self.centers: np.ndarray | None = None  # sums of the embeddings assigned, one row per centre
        self.used: list[int] = []  # centres opened, in order
        self.known_within = 0.0  # seeded centres (the first len(_seeds)) take only speakers this close
        self._seeds: list[np.ndarray] = []

    def expect(self, profiles: list[np.ndarray], within: float) -> None:
        """Open a centre for each known voice (unit profile embeddings) before any audio, so two known
        voices are told apart from the first chunk (live clustering with nothing to go on merged two
        voices 0.43 apart) and a voice heard is named at once. A seeded centre takes only a speaker
        within ``within`` of it, so an unknown voice is never folded into a known one; at most
        ``max_speakers - 1`` voices are seeded, leaving room for one unknown."""
        self._seeds = [np.asarray(p, dtype=np.float64) for p in profiles[: max(0, self.max_speakers - 1)]]
        self.known_within = within

    def centres(self) -> dict[int, np.ndarray]:
        """Each global speaker's centre (a sum of embeddings: compare by angle)."""
        return {} if self.centers is None else {g: self.centers[g] for g in self.used}

    def __call__(self, segmentation: Any, embeddings: Any) -> Any:
        """diart's clustering step: the chunk's segmentation with its columns moved to global speakers."""
        from pyannote.core import SlidingWindowFeature

        seg = np.asarray(segmentation.data)
        emb = embeddings.detach().cpu().numpy() if hasattr(embeddings, "detach") else np.asarray(embeddings)
        mapping = self.identify(seg, emb)
        self.log.add(float(segmentation.sliding_window.start), seg, emb, mapping)
        out = np.zeros((seg.shape[0], self.max_speakers))
        for local, glob in mapping.items():
            out[:, glob] = np.maximum(out[:, glob], seg[:, local])
        return SlidingWindowFeature(out, segmentation.sliding_window)

    def identify(self, seg: np.ndarray, emb: np.ndarray) -> dict[int, int]:
        """Local speaker -> global speaker for one chunk; opens and moves centres."""
        active = np.flatnonzero((seg.max(axis=0) >= self.tau_active) & ~np.isnan(emb).any(axis=1))
        long = seg.mean(axis=0) >= self.rho_update
        if self.centers is None:
            self.centers = np.zeros((self.max_speakers, emb.shape[1]))
            if self._seeds:  # the seeds weigh as much as SEED_WEIGHT of this stream's chunks
                norms = np.linalg.norm(emb[~np.isnan(emb).any(axis=1)], axis=1)
                scale = SEED_WEIGHT * (float(np.median(norms)) if norms.size else 1.0)
                for g, p in enumerate(self._seeds):
                    self.centers[g] = p / max(float(np.linalg.norm(p)), 1e-12) * scale
                    self.used.append(g)
        mapping: dict[int, int] = {}
        missed: list[int] = []
        if self.used and active.size:
            known = np.array(self.used)
            c = self.centers[known]
            unit = emb[active] / np.maximum(np.linalg.norm(emb[active], axis=1, keepdims=True), 1e-12)
            dist = 1.0 - unit @ (c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)).T
            seeded = known < len(self._seeds)
            dist[:, seeded] = np.where(dist[:, seeded] < self.known_within, dist[:, seeded], FAR)
            chosen = assign_chunk(seg[:, active], dist, SHARE)
            for i, local in enumerate(active.tolist()):
                if chosen[i] >= 0 and dist[i, chosen[i]] < self.delta_new:
                    mapping[int(local)] = int(known[chosen[i]])
                else:
                    missed.append(i)
        else:
            missed = list(range(active.size))
            dist = np.zeros((active.size, 0))
        for local in active.tolist():
            if local in mapping and long[local]:
                self.centers[mapping[local]] += emb[local]
        on = seg >= 0.5
        for i in missed:
            local = int(active[i])
            if long[local] and len(self.used) < self.max_speakers:
                g = next(k for k in range(self.max_speakers) if k not in self.used)
                self.used.append(g)
                self.centers[g] = emb[local]
                mapping[local] = g
                continue
            # no room, or too short to be a new voice: the nearest centre left to it (one taken by a
            # speaker heard apart from it only when it is close)
            heard_with = {mapping[o] for o in mapping if (on[:, o] & on[:, local]).any()}
            taken = set(mapping.values())
            for k in np.argsort(dist[i]) if dist.shape[1] else []:
                g = int(self.used[k])
                if dist[i, k] < FAR and g not in heard_with and (g not in taken or dist[i, k] < SHARE):
                    mapping[local] = g
                    break
        return mapping
