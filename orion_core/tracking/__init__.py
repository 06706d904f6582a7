"""Track stage: online tracker (motion + appearance) and long-term memory (re-identification).

    memory = EntityMemory(config.memory, reid_threshold=0.75)
    tracker = Tracker(config.tracking, memory=memory)  # memory=None: entity_id == track_id
    objects = tracker.update(frame.index, detections, embeddings, has_embedding)
    tracker.finish()
    records, prototypes = memory.export()
"""

from __future__ import annotations

from .memory import Claim, ClaimRequest, EntityMemory, gallery_similarity
from .tracker import Tracker, assign, iou_matrix

__all__ = ["Claim", "ClaimRequest", "EntityMemory", "Tracker", "assign", "gallery_similarity", "iou_matrix"]
