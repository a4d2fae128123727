"""The event bus: normalized events between processes (NATS JetStream) or inside one (asyncio)."""

from .core import (
    SUBJECT_ROOT,
    Bus,
    Delivery,
    InProcessBus,
    decode_message,
    encode_message,
    event_id,
    select_shard,
    shard_of,
    subject_of,
)
from .jetstream import STREAM, JetStreamBus, StreamLimits

__all__ = [
    "STREAM",
    "SUBJECT_ROOT",
    "Bus",
    "Delivery",
    "InProcessBus",
    "JetStreamBus",
    "StreamLimits",
    "decode_message",
    "encode_message",
    "event_id",
    "select_shard",
    "shard_of",
    "subject_of",
]
