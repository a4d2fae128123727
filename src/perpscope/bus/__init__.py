"""The event bus: normalized events between processes (NATS JetStream) or inside one (asyncio)."""

from .core import (
    BATCH_VERSION,
    SUBJECT_ROOT,
    BadPayload,
    Bus,
    Delivery,
    EventBatch,
    InProcessBus,
    batch_id,
    decode_message,
    decode_payload,
    encode_batch,
    encode_message,
    event_id,
    select_shard,
    shard_of,
    subject_of,
)
from .jetstream import STREAM, JetStreamBus, StreamLimits

__all__ = [
    "BATCH_VERSION",
    "STREAM",
    "SUBJECT_ROOT",
    "BadPayload",
    "Bus",
    "Delivery",
    "EventBatch",
    "InProcessBus",
    "JetStreamBus",
    "StreamLimits",
    "batch_id",
    "decode_message",
    "decode_payload",
    "encode_batch",
    "encode_message",
    "event_id",
    "select_shard",
    "shard_of",
    "subject_of",
]
