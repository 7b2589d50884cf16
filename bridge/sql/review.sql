-- name: review_park
-- Park one event for review (the consumer, before it acks the message).  One open row per 1C object: a
-- newer event of an object already parked replaces the stored envelope when its version is not older.
-- Returns the row id.
-- $1 consumer, $2 source, $3 onec_type, $4 onec_id, $5 entity, $6 entity_id, $7 event_id uuid,
-- $8 event_type, $9 version bigint, $10 reason, $11 summary, $12 error, $13 candidates jsonb,
-- $14 envelope jsonb (the whole event as 1C sent it)
INSERT INTO review_items (consumer, source, onec_type, onec_id, entity, entity_id, event_id, event_type, version,
                          reason, summary, error, candidates, envelope)
VALUES ($1, $2, $3, $4, $5, $6, $7::uuid, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb)
    ON CONFLICT (source, onec_type, onec_id) WHERE resolved_at IS NULL DO UPDATE
   SET times_parked = review_items.times_parked + 1, updated_at = now(),
       reason = EXCLUDED.reason, error = EXCLUDED.error,
       summary = coalesce(nullif(EXCLUDED.summary, ''), review_items.summary),
       candidates = CASE WHEN EXCLUDED.candidates = '[]'::jsonb THEN review_items.candidates
                         ELSE EXCLUDED.candidates END,
       event_id = CASE WHEN coalesce(EXCLUDED.version, 0) >= coalesce(review_items.version, 0)
                       THEN EXCLUDED.event_id ELSE review_items.event_id END,
       envelope = CASE WHEN coalesce(EXCLUDED.version, 0) >= coalesce(review_items.version, 0)
                       THEN EXCLUDED.envelope ELSE review_items.envelope END,
       event_type = CASE WHEN coalesce(EXCLUDED.version, 0) >= coalesce(review_items.version, 0)
                         THEN EXCLUDED.event_type ELSE review_items.event_type END,
       version = greatest(EXCLUDED.version, review_items.version)
RETURNING id

-- name: review_state_of
-- The latest review row of one 1C object (open, or resolved with the operator's decision), if any.
-- $1 source, $2 onec_type, $3 onec_id
SELECT id, resolved_at, decision, target_id, reason
  FROM review_items
 WHERE source = $1 AND onec_type = $2 AND onec_id = $3
 ORDER BY (resolved_at IS NULL) DESC, id DESC
 LIMIT 1

-- name: review_select
-- Review rows, oldest first.  $1 state ('open', 'resolved' or 'all'), $2 ids bigint[] (empty: any),
-- $3 consumer text (NULL: any), $4 limit int
SELECT id, consumer, source, onec_type, onec_id, entity, entity_id, event_id, event_type, version, reason,
       summary, error, candidates::text AS candidates, envelope::text AS envelope, parked_at, updated_at,
       times_parked, resolved_at, resolved_by, decision, target_id, note
  FROM review_items
 WHERE (cardinality($2::bigint[]) = 0 OR id = ANY($2::bigint[]))
   AND ($3::text IS NULL OR consumer = $3::text)
   AND CASE $1::text WHEN 'open' THEN resolved_at IS NULL WHEN 'resolved' THEN resolved_at IS NOT NULL
                     ELSE true END
 ORDER BY id
 LIMIT $4

-- name: review_lock_open
-- Lock one open row for resolving; none when it was resolved meanwhile.  $1 id bigint
SELECT id, event_id, event_type, entity, source, entity_id, version, envelope::text AS envelope,
       candidates::text AS candidates
  FROM review_items
 WHERE id = $1 AND resolved_at IS NULL
   FOR UPDATE

-- name: review_mark_resolved
-- Record the operator's decision.  $1 id, $2 decision ('adopt' or 'create'), $3 target_id bigint, $4 by,
-- $5 note
UPDATE review_items SET resolved_at = now(), decision = $2, target_id = $3, resolved_by = $4, note = $5
 WHERE id = $1 AND resolved_at IS NULL

-- name: review_requeue
-- Put a resolved event back into the outbox: the relay publishes it to its entity exchange and the
-- handler, meeting the decision, adopts the picked record or creates one.  An event still in the outbox is
-- marked unpublished again; one purged from it is inserted anew.
-- $1 event_id uuid, $2 event_type, $3 entity, $4 source, $5 entity_id uuid, $6 version bigint,
-- $7 occurred_at timestamptz, $8 body jsonb.  Counted as a replay (x-bridge-replayed): the handler ran
-- before it was parked and may have made part of the push, so no pre-read index may answer "absent" for it.
INSERT INTO outbox (event_id, event_type, entity, source, entity_id, version, occurred_at, body, replays)
VALUES ($1::uuid, $2, $3, $4, $5::uuid, $6, $7, $8::jsonb, 1)
    ON CONFLICT (event_id) DO UPDATE SET published_at = NULL, replays = outbox.replays + 1

-- name: review_open_counts
-- Open review rows per consumer (the bridge_review_open gauge, the console).
SELECT consumer, count(*) AS n FROM review_items WHERE resolved_at IS NULL GROUP BY consumer
