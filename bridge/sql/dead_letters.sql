-- name: dead_letter_store
-- Keep one dead letter (the sink, before it acks the broker message).  A message delivered again after a
-- crash between this commit and the ack meets its own row and stores nothing.  Returns the new row's id,
-- or no row when it was stored before.
-- $1 queue, $2 consumer, $3 event_id, $4 replays int, $5 event_type, $6 source, $7 entity, $8 entity_id,
-- $9 version bigint, $10 reason, $11 error, $12 attempts int, $13 first_failed_at timestamptz,
-- $14 last_failed_at timestamptz, $15 exchange, $16 routing_key, $17 headers jsonb (a dict: the pool's codec encodes it), $18 body bytea
INSERT INTO dead_letters (queue, consumer, event_id, replays, event_type, source, entity, entity_id, version,
                          reason, error, attempts, first_failed_at, last_failed_at, exchange, routing_key,
                          headers, body)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb, $18)
    ON CONFLICT ON CONSTRAINT dead_letters_message_key DO NOTHING
RETURNING id

-- name: dead_letter_select
-- Dead letters matching a filter, oldest first (every filter is optional: NULL or an empty array).
-- $1 queues text[], $2 event_ids text[], $3 entity_id text, $4 reason text, $5 state text
-- ('open', 'replayed', 'purged' or 'all'), $6 limit int, $7 ids bigint[]
SELECT id, queue, consumer, event_id, replays, event_type, source, entity, entity_id, version, reason, error,
       attempts, first_failed_at, last_failed_at, exchange, routing_key, headers::text AS headers, body,
       stored_at, replayed_at, replayed_by, replay_reason, purged_at, purged_by, purge_reason
  FROM dead_letters
 WHERE (cardinality($1::text[]) = 0 OR queue = ANY($1::text[]))
   AND (cardinality($2::text[]) = 0 OR event_id = ANY($2::text[]))
   AND ($3::text IS NULL OR entity_id = $3::text)
   AND ($4::text IS NULL OR reason = $4::text)
   AND (cardinality($7::bigint[]) = 0 OR id = ANY($7::bigint[]))
   AND CASE $5::text
         WHEN 'open' THEN replayed_at IS NULL AND purged_at IS NULL
         WHEN 'replayed' THEN replayed_at IS NOT NULL
         WHEN 'purged' THEN purged_at IS NOT NULL
         ELSE true
       END
 ORDER BY id
 LIMIT $6

-- name: dead_letter_lock_open
-- Lock the given rows that are still open (neither replayed nor purged) for a replay or purge; a row
-- another operator is marking right now is waited for, then skipped because it is no longer open.
-- $1 ids bigint[]
SELECT id, queue, event_id, replays, body
  FROM dead_letters
 WHERE id = ANY($1::bigint[]) AND replayed_at IS NULL AND purged_at IS NULL
 ORDER BY id
   FOR UPDATE

-- name: dead_letter_mark_replayed
-- Record who replayed a row, when and why (in the transaction that puts the event back into the outbox).
-- $1 id bigint, $2 by text, $3 reason text
UPDATE dead_letters SET replayed_at = now(), replayed_by = $2, replay_reason = $3
 WHERE id = $1 AND replayed_at IS NULL AND purged_at IS NULL

-- name: dead_letter_mark_purged
-- Record who purged rows, when and why; the rows stay for the record but are no longer open.
-- $1 ids bigint[], $2 by text, $3 reason text
UPDATE dead_letters SET purged_at = now(), purged_by = $2, purge_reason = $3
 WHERE id = ANY($1::bigint[]) AND replayed_at IS NULL AND purged_at IS NULL
RETURNING id

-- name: dead_letter_requeue
-- Put a replayed event back into the outbox with its replay count: the relay publishes it to its entity
-- exchange as if 1C had just sent it.  An event still in the outbox (kept 7 days) is marked unpublished
-- again; one already purged from it is inserted anew.
-- $1 event_id uuid, $2 event_type, $3 entity, $4 source, $5 entity_id uuid, $6 version bigint,
-- $7 occurred_at timestamptz, $8 body text (JSON: cast from text, so the pool's jsonb codec does not encode it as a
-- JSON string), $9 replays int
INSERT INTO outbox (event_id, event_type, entity, source, entity_id, version, occurred_at, body, replays)
VALUES ($1::uuid, $2, $3, $4, $5::uuid, $6, $7, $8::text::jsonb, $9)
    ON CONFLICT (event_id) DO UPDATE SET published_at = NULL, replays = EXCLUDED.replays

-- name: dead_letter_counts
-- Open dead letters per queue and reason.
SELECT queue, reason, count(*) AS n
  FROM dead_letters
 WHERE replayed_at IS NULL AND purged_at IS NULL
 GROUP BY queue, reason
 ORDER BY queue, reason
