"""Metric series: columnar buckets of points, a summary per series, idempotent requests.

Layout
- `metric_buckets`: up to `BUCKET_POINTS` points of one series (subject, key) per document,
  as parallel columns `steps`, `wallclocks` and one value column (`values`, `tensors` or
  `bytes`), sorted by step inside the bucket, with the bucket's `first_step`/`last_step`.
  Numeric columns are packed little-endian arrays (int64 steps, float64 wallclocks and
  values) in one BSON binary each, not BSON arrays: a bucket is then three values instead
  of three thousand to encode, store and decode, which makes reads about five times faster
  on the embedded database; tensors and bytes stay BSON arrays of strings and binaries.
  A FLOAT bucket also carries a rollup: the first, last, min and max point of each of 32
  slices of it (`rollup_*` columns). A plot of a long range reads only those (about one
  point in eight) and downsamples them further; every spike is some slice's extreme.
  Buckets are written once: a request's points become new buckets, never added to old
  ones. So concurrent writers of one series never contend on a bucket, an insert event on
  the change stream carries exactly the points one request added (what live subscriptions
  send), and out-of-order steps are simply buckets whose step ranges overlap.
  Reads fetch the buckets of a step range by `first_step` and merge them into step order;
  when the ranges do not overlap (the usual, in-order case) that merge is a concatenation.
  The one rewrite is compaction: a loop that logs every step makes one small bucket per
  request, so once a series has COMPACT_AFTER small buckets they are merged, in one
  transaction, into full ones marked `compacted` (see `Metrics.compact`).
- `metric_series`: one summary per series (kind, count, first/last step, min, max, last
  point), inserted by the request that starts the series and kept current by an update of
  `$inc`/`$min`/`$max` on every later write. The last point is `$max` of the embedded
  document `{step, wallclock, value}`: documents compare field by field, so the point with
  the greatest step wins. The request's transaction reads the kinds of its keys first: a key
  of another kind is refused, and two requests starting one series meet the unique
  (subject, key) index.
- `metric_requests`: the idempotency keys seen per subject (unique), kept for a week.

One request is one transaction: the parent's guard, the idempotency key, the read of its
keys' kinds, the summaries (one insert of the new, one `bulk_write` of the others) and one
`insert_many` of the buckets (and, for an experiment, its search summaries and values). A
repeated key or a kind clash aborts it, so a rejected request logs nothing at all.
"""

from modelbox.server.store.metrics.columns import (
    BYTES,
    COLUMN,
    FLOAT,
    POINT_FIELD,
    TENSOR,
    Columns,
    LogResult,
    SeriesPoints,
)
from modelbox.server.store.metrics.merging import step_window
from modelbox.server.store.metrics.repository import Metrics

__all__ = [
    "BYTES",
    "COLUMN",
    "FLOAT",
    "POINT_FIELD",
    "TENSOR",
    "Columns",
    "LogResult",
    "Metrics",
    "SeriesPoints",
    "step_window",
]
