"""Per-video re-ID calibration: the video labels itself, the decision is fitted on that.

Thresholds measured on single crop pairs do not transfer to the statistic the memory decides
on (a track's crops against the *best* of an entity's stored views: the max over a gallery is
higher for different objects too), nor from one backend or video to another. A video supplies
its own labels, for free:

* positives: crops of one confirmed track are the same object. Sample: the track's newest
  `QUERY` crops against its older ones (`SKIP` crops in between, so neighbours do not match
  themselves).
* negatives: two tracks visible in the same frame are different objects. Sample: one track's
  newest `QUERY` crops against the other's reference gallery (its entity's gallery when the
  memory keeps one: exactly the rows, and so the max-over-gallery effect, a claim would see).

Both are `gallery_similarity` values, the statistic `EntityMemory` decides on, and per-crop
maxima (the statistic of the tracker's recovery pass, one detection against a gallery).

Fitted decision (open set), once `MIN_NEGATIVES` and `MIN_POSITIVES` samples are in:

* bar(C) = quantile (1 - ALPHA / C) of the negatives, for C allowed candidates: a claim among
  C candidates risks C chances of a look-alike (Bonferroni), so the bar rises with C.
* margin = the spread (std) of the positives, at least `MIN_MARGIN`: the best candidate must beat
  the runner-up by more than the noise of a true match, else the choice is a coin toss.
* held bar = bar + margin: taking an entity a lost track still holds costs that track its id.
* if positives do not rank above negatives (AUC < `MIN_AUC`) the backend cannot tell objects
  apart on this video: the bar becomes +inf (no re-identification) and `stats` says so.

Before that, the backend's `reid_threshold` (the prior) decides, with `PRIOR_MARGIN`, unless the
video's own negatives already say it is too low: once `MIN_RAISE_NEGATIVES` negatives from
`MIN_RAISE_PAIRS` pairs are in, the bar is at least their quantile (1 - ALPHA / C) ("raised"). Only
upwards: lowering the bar needs positives, which short clips rarely collect (a positive needs 10
crops of one track). A backend whose prior was measured on distinct-looking crops meets a crowd
whose different people score above it (mobilenetv2's 0.85 against negatives with a median of
0.82-0.86 on street-coloured replays), and every claim and recovery there would be a coin toss.

The first-pass appearance gate comes from the single-crop distances of motion-confident
matches (IoU >= `CONFIDENT_IOU`, sampled every frame): gate = q99 + (q99 - median), so true
matches pass whatever the backend's scale (histogram distances are ~0.1, a random network's
~0.01); `DEFAULT_GATE` until `MIN_GATE_SAMPLES` are in (a few frames of a busy scene).

Cost: a few dot products every `SAMPLE_EVERY` frames (`NEG_PER_FRAME`, `POS_PER_FRAME` samples); samples live in
fixed rings (`KEEP`), so a long video costs no more memory than a short one.
"""

from __future__ import annotations

import numpy as np

QUERY = 4  # crops of a track compared (a claim at confirmation has min_hits=3..a few)
SKIP = 2  # crops between a positive's query and its reference
MIN_REFERENCE = 4  # reference crops a positive needs
MIN_POSITIVES = 20
MIN_NEGATIVES = 50
MIN_TRACKS = 4  # distinct tracks behind the positives (consecutive samples of one track are alike)
MIN_PAIRS = 8  # distinct co-visible track pairs behind the negatives
# First-pass match distances are sampled every processed frame (the tracker has them anyway) and
# the gate is fitted from MIN_GATE_SAMPLES on. It was every 4th frame and 100 samples: a clip of
# TUD's length (71-179 frames at 25 fps) never got there, so the 0.6 prior decided every frame of
# it. Replays (6 seeds x 2 sequences x 3 rates): fitted detector histogram +1.0 / +1.0 and
# mobilenetv2 +0.8 / +1.1 mean HOTA / IDF1, realistic +0.8 / +1.2 and +0.4 / +0.3, clean -0.2 / -0.2
# and +1.0 / +0.8 (benchmarks/README.md, "The gate on short clips", which lists what got worse).
MIN_GATE_SAMPLES = 30
# Short clips rarely give the 20 positives a fit needs, but soon give negatives. On replays whose
# people wear street colours, mobilenetv2's 0.85 prior sat at the median of the negatives; letting
# them raise it: IDF1 +1.6 (realistic detector) and +1.1 (fitted) on the mean, photo replays, PETS
# and the synthetic scenes unchanged (benchmarks/README.md, "People dressed alike"). 20 is the
# fewest samples whose 95th percentile is not simply their maximum.
MIN_RAISE_NEGATIVES = 20  # negatives before they may raise the prior bar (never lower it)
MIN_RAISE_PAIRS = 4  # distinct co-visible track pairs behind them
MIN_AUC = 0.9
ALPHA = 0.05  # accepted risk of one wrong merge per decision, split over its candidates
PRIOR_MARGIN = 0.02
MIN_MARGIN = 0.01
MAX_MARGIN = 0.1
DEFAULT_GATE = 0.6  # first-pass appearance gate before the video has spoken (the old fixed value)
CONFIDENT_IOU = 0.5
SAMPLE_EVERY = 4  # frames between samplings (consecutive frames add little new evidence)
NEG_PER_FRAME = 3  # per sampled frame
POS_PER_FRAME = 1
KEEP = 4096
REFIT_EVERY = 64  # new samples between refits: a fit (ranks, quantiles) costs ~1 ms, a sampled frame adds ~4
GATE_PER_FRAME = 8  # match distances kept per sampled frame (a random choice: not always the same tracks)
MIN_NOISE_SAMPLES = 20  # within-track changes of a match distance before the tie margin is fitted


class _Ring:
    """Last `KEEP` float samples."""

    def __init__(self) -> None:
        self.values = np.zeros(KEEP)
        self.count = 0
        self.total = 0

    def add(self, value: float) -> None:
        self.values[self.total % KEEP] = value
        self.total += 1
        self.count = min(self.total, KEEP)

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        self.values[(self.total + np.arange(len(values))) % KEEP] = values
        self.total += len(values)
        self.count = min(self.total, KEEP)

    def filled(self) -> np.ndarray:
        return self.values[: self.count]


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(positive > negative), ties counting half (the Mann-Whitney U statistic over the pairs).

    Counted with a sorted search rather than `scipy.stats.rankdata`: importing `scipy.stats`
    takes most of a second, and the first fit happens mid-video, a stall in one frame.
    """
    neg = np.sort(np.asarray(neg, np.float64))
    pos = np.asarray(pos, np.float64)
    below = np.searchsorted(neg, pos, side="left")
    tied = np.searchsorted(neg, pos, side="right") - below
    return float((below.sum() + 0.5 * tied.sum()) / (len(pos) * len(neg)))


class ReidCalibration:
    """Collects a video's positives/negatives and answers with the fitted bars.

    `prior` is the backend's (or configured) reid_threshold; `enabled=False` keeps it for good.
    """

    def __init__(self, prior: float, enabled: bool = True, seed: int = 0) -> None:
        self.prior = float(prior)
        self.enabled = enabled
        self.rng = np.random.default_rng(seed)
        self.positives = _Ring()  # gallery_similarity of same-object pairs
        self.negatives = _Ring()  # gallery_similarity vs the claim's reference (entity gallery if any)
        self.negatives_track = _Ring()  # the same vs the other track's own gallery (memory-independent)
        self.negatives_single = _Ring()  # per-crop max vs the other track's gallery (recovery statistic)
        self.match_distances = _Ring()  # single-crop distance of motion-confident first-pass matches
        self.match_changes = _Ring()  # change of that distance between two samples of one track
        self._last_match: dict = {}  # track -> (frame, distance) of its last sampled confident match
        self._tie: tuple | None = None
        self._tracks: set = set()
        self._pairs: set = set()
        self._fit: dict | None = None
        self._fit_at = (-1, -1)
        self._recovery: tuple | None = None
        self._gate: tuple | None = None

    # ---- evidence -------------------------------------------------------------------------

    def add_positive(self, rows: np.ndarray, track: int = 0) -> None:
        """`rows`: one track's crops, oldest first."""
        if len(rows) < QUERY + SKIP + MIN_REFERENCE:
            return
        query, reference = rows[-QUERY:], rows[: len(rows) - QUERY - SKIP]
        self.positives.add(float((query @ reference.T).max(axis=1).mean()))
        if len(self._tracks) < KEEP:
            self._tracks.add(track)

    def add_negative(self, query: np.ndarray, track_reference: np.ndarray, reference: np.ndarray | None = None,
                     pair: tuple = (0, 0)) -> None:
        """`query`: newest crops of one track; `track_reference`: the gallery of another track seen in
        the same frame; `reference`: that track's entity gallery (what a claim compares with), if any."""
        if len(query) == 0 or len(track_reference) == 0:
            return
        best = (query[-QUERY:] @ track_reference.T).max(axis=1)
        mean = float(best.mean())
        self.negatives_track.add(mean)
        self.negatives_single.extend(best)
        if reference is not None and len(reference):
            self.negatives.add(float((query[-QUERY:] @ reference.T).max(axis=1).mean()))
        else:
            self.negatives.add(mean)
        if len(self._pairs) < KEEP:
            self._pairs.add(tuple(sorted(pair)))

    def add_positive_value(self, value: float, track: int = 0) -> None:
        """A ready-made same-object similarity (e.g. two clips of one track)."""
        self.positives.extend([value])
        if len(self._tracks) < KEEP:
            self._tracks.add(track)

    def add_negative_value(self, value: float, pair: tuple = (0, 0)) -> None:
        """A ready-made different-object similarity (e.g. clips of two co-visible tracks)."""
        for ring in (self.negatives, self.negatives_track, self.negatives_single):
            ring.extend([value])
        if len(self._pairs) < KEEP:
            self._pairs.add(tuple(sorted(pair)))

    def add_match_distances(self, distances: np.ndarray) -> None:
        distances = np.asarray(distances, dtype=np.float64).reshape(-1)
        if len(distances) > GATE_PER_FRAME:  # the first rows are the same old tracks frame after frame
            distances = self.rng.choice(distances, GATE_PER_FRAME, replace=False)
        self.match_distances.extend(distances)

    def add_match_changes(self, distances: np.ndarray, tracks, frame: int) -> None:
        """Distances of motion-confident first-pass matches of `tracks` (ids) in `frame`: a track
        seen again within `2 * SAMPLE_EVERY` frames gives the change of its distance (tie margin)."""
        for track, distance in zip(tracks, np.asarray(distances, dtype=np.float64).tolist()):
            last = self._last_match.get(track)
            if last is not None and 0 < frame - last[0] <= 2 * SAMPLE_EVERY:
                self.match_changes.add(distance - last[1])
            self._last_match[track] = (frame, distance)
        if len(self._last_match) > KEEP:  # ended tracks: keep the newest half
            newest = sorted(self._last_match.items(), key=lambda item: item[1][0])[-KEEP // 2:]
            self._last_match = dict(newest)

    # ---- the fitted decision --------------------------------------------------------------

    def _enough(self) -> bool:
        return (
            self.enabled
            and self.positives.count >= MIN_POSITIVES
            and self.negatives.count >= MIN_NEGATIVES
            and len(self._tracks) >= MIN_TRACKS
            and len(self._pairs) >= MIN_PAIRS
        )

    def _raises(self, negatives: _Ring) -> bool:
        """Enough negatives, from enough pairs, to overrule a prior bar that sits below them."""
        return self.enabled and negatives.count >= MIN_RAISE_NEGATIVES and len(self._pairs) >= MIN_RAISE_PAIRS

    def _stale(self, fitted_at: tuple | None, key: tuple, was_fitted: bool) -> bool:
        """Refit every REFIT_EVERY samples once fitted; before that, whenever evidence arrives."""
        if fitted_at is None:
            return True
        new = sum(key) - sum(fitted_at)
        return new >= REFIT_EVERY or (new > 0 and not was_fitted)

    def fit(self) -> dict:
        key = (self.positives.total, self.negatives.total)
        # a raised prior follows every new negative, as the prior waits for them: it is not a fit yet
        if self._fit is not None and not self._stale(self._fit_at, key, self._fit["source"] not in ("prior", "raised")):
            return self._fit
        pos, neg = self.positives.filled(), self.negatives.filled()
        fit = {"source": "prior", "bar": self.prior, "margin": PRIOR_MARGIN, "auc": None, "bars": {}}
        if self._enough():
            auc = _auc(pos, neg)
            margin = float(np.clip(pos.std(), MIN_MARGIN, MAX_MARGIN))
            if auc < MIN_AUC:
                fit = {"source": "uninformative", "bar": float("inf"), "margin": margin, "auc": auc}
            else:
                fit = {"source": "fitted", "bar": float(np.quantile(neg, 1.0 - ALPHA)), "margin": margin, "auc": auc}
        elif self._raises(self.negatives):
            raised = float(np.quantile(neg, 1.0 - ALPHA))
            if raised > self.prior:
                fit = {"source": "raised", "bar": raised, "margin": PRIOR_MARGIN, "auc": None, "bars": {}}
        self._fit, self._fit_at = fit, key
        return fit

    def bar(self, candidates: int = 1, held: bool = False) -> float:
        """Similarity a best candidate must reach among `candidates` allowed ones (`held`: a lost track's entity)."""
        fit = self.fit()
        if fit["source"] in ("fitted", "raised"):
            bars = fit.setdefault("bars", {})
            if candidates not in bars:
                bars[candidates] = float(np.quantile(self.negatives.filled(), 1.0 - ALPHA / max(1, candidates)))
                if fit["source"] == "raised":  # the negatives may only raise the prior
                    bars[candidates] = max(bars[candidates], self.prior)
            bar = bars[candidates]
        else:
            bar = fit["bar"]
        return bar + fit["margin"] if held else bar

    def margin(self) -> float:
        return self.fit()["margin"]

    def recovery_bar(self) -> float:
        """Single-crop vs gallery similarity a lost track's recovery needs (tracker's third pass).

        Fitted on track galleries only (never the memory's), so that turning the memory off
        does not change online tracking.
        """
        key = (self.positives.total, self.negatives_track.total)
        if self._recovery is not None and not self._stale(self._recovery[0], key, self._recovery[2]):
            return self._recovery[1]
        bar, fitted = self.prior, self._enough()
        if fitted:
            if _auc(self.positives.filled(), self.negatives_track.filled()) < MIN_AUC:
                bar = float("inf")
            else:
                bar = float(np.quantile(self.negatives_single.filled(), 1.0 - ALPHA))
        elif self._raises(self.negatives_track):  # only upwards, as `fit`'s "raised"
            bar = max(bar, float(np.quantile(self.negatives_single.filled(), 1.0 - ALPHA)))
        self._recovery = (key, bar, fitted)
        return bar

    def appearance_gate(self) -> float:
        """First-pass cosine-distance gate: what motion-confident true matches show, with room."""
        total = self.match_distances.total
        if not self.enabled or total < MIN_GATE_SAMPLES:
            return DEFAULT_GATE
        if self._gate is None or total - self._gate[0] >= REFIT_EVERY:
            d = self.match_distances.filled()
            q99 = float(np.quantile(d, 0.99))
            self._gate = (total, float(np.clip(q99 + (q99 - np.median(d)), 0.02, 2.0)))
        return self._gate[1]

    def tie_margin(self) -> float:
        """Noise of one crop's appearance distance to its own track (first pass, `tracking.appearance_ties`).

        The std of the change of a motion-confident match's distance between two samples of the
        same track, over sqrt(2) (a change is the difference of two noisy distances); clipped to
        [MIN_MARGIN, MAX_MARGIN]. Within-track changes leave out how far tracks sit from each other
        on average, which the positives' spread (`margin`) includes. PRIOR_MARGIN until
        MIN_NOISE_SAMPLES changes are in.
        """
        total = self.match_changes.total
        if not self.enabled or total < MIN_NOISE_SAMPLES:
            return PRIOR_MARGIN
        if self._tie is None or total - self._tie[0] >= REFIT_EVERY or (total != self._tie[0] and self._tie[0] < 2 * MIN_NOISE_SAMPLES):
            noise = float(self.match_changes.filled().std() / np.sqrt(2.0))
            self._tie = (total, float(np.clip(noise, MIN_MARGIN, MAX_MARGIN)))
        return self._tie[1]

    @property
    def stats(self) -> dict:
        """For run.json: what was fitted, on how much evidence, and what it means."""
        fit = self.fit()
        pos, neg = self.positives.filled(), self.negatives.filled()
        out = {
            "source": fit["source"],
            "prior": round(self.prior, 4),
            "bar": None if not np.isfinite(fit["bar"]) else round(fit["bar"], 4),
            "margin": round(fit["margin"], 4),
            "held_bar": None if not np.isfinite(fit["bar"]) else round(fit["bar"] + fit["margin"], 4),
            "auc": None if fit["auc"] is None else round(fit["auc"], 4),
            "recovery_bar": None if not np.isfinite(self.recovery_bar()) else round(self.recovery_bar(), 4),
            "appearance_gate": round(self.appearance_gate(), 4),
            "tie_margin": round(self.tie_margin(), 4),
            "tie_samples": int(self.match_changes.total),
            "positives": int(self.positives.total),
            "negatives": int(self.negatives.total),
            "positive_tracks": len(self._tracks),
            "negative_pairs": len(self._pairs),
            "gate_samples": int(self.match_distances.total),
            "needs": {
                "positives": MIN_POSITIVES, "negatives": MIN_NEGATIVES, "positive_tracks": MIN_TRACKS,
                "negative_pairs": MIN_PAIRS, "gate_samples": MIN_GATE_SAMPLES,
                "raise_negatives": MIN_RAISE_NEGATIVES,
            },
        }
        if len(pos):
            out["positive_median"] = round(float(np.median(pos)), 4)
        if len(neg):
            out["negative_median"] = round(float(np.median(neg)), 4)
        if fit["source"] == "uninformative":
            out["note"] = (
                f"re-identification off: the backend does not tell this video's objects apart "
                f"(AUC {fit['auc']:.2f} < {MIN_AUC}); memory merges nothing"
            )
        elif fit["source"] == "raised":
            out["note"] = ("too few positives to fit; this video's different objects score above the backend's "
                           "reid_threshold, so their quantile is the bar (the negatives may raise the prior, never lower it)")
        elif fit["source"] == "prior":
            out["note"] = "not enough evidence on this video (needs the counts above): the backend's reid_threshold decided"
        return out
