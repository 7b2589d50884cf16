-- name: outbox_insert
-- Store a batch of validated events; first write wins on event_id.  Returns the event_ids this call stored,
-- so the ingest can tell `accepted` from `duplicate`.  Arrays are parallel, one element per event, in
-- request order (unnest keeps it, so ids follow request order).
-- $1 event_id uuid[], $2 event_type text[], $3 entity text[], $4 source text[], $5 entity_id uuid[],
-- $6 version bigint[], $7 occurred_at timestamptz[], $8 body text[] (JSON)
INSERT INTO outbox (event_id, event_type, entity, source, entity_id, version, occurred_at, body)
SELECT e, t, n, s, i, v, o, b::jsonb
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::bigint[],
              $7::timestamptz[], $8::text[]) AS u(e, t, n, s, i, v, o, b)
    ON CONFLICT (event_id) DO NOTHING
RETURNING event_id

-- name: outbox_notify
-- Wake the relays (delivered at commit, so they never look before the rows are visible).
SELECT pg_notify('bridge_outbox', '')

-- name: outbox_claim
-- Lock up to $1 unpublished rows in id order; rows another relay holds are skipped, not waited for.
-- The lock lasts until the claiming transaction ends: commit after marking, or a crash releases them.
-- $1 limit int
SELECT id, event_id::text AS event_id, event_type, entity, source, entity_id::text AS entity_id, version,
       body::text AS body, replays, received_at
  FROM outbox
 WHERE published_at IS NULL
 ORDER BY id
 LIMIT $1
   FOR UPDATE SKIP LOCKED

-- name: outbox_mark_published
-- Mark rows whose publisher confirm arrived.
-- $1 ids bigint[]
UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])

-- name: outbox_backlog
-- Unpublished rows and the age of the oldest, per entity (for metrics and `b24bridge status`).
SELECT entity, count(*) AS pending, extract(epoch FROM now() - min(received_at))::float8 AS oldest_age
  FROM outbox
 WHERE published_at IS NULL
 GROUP BY entity

-- name: outbox_purge
-- Delete up to $2 rows published before $1 (retention), oldest first.
-- $1 published_before timestamptz, $2 limit int
DELETE FROM outbox
 WHERE id IN (SELECT id FROM outbox
               WHERE published_at IS NOT NULL AND published_at < $1
               ORDER BY id LIMIT $2)

-- name: outbox_get
-- One stored event by event_id (operations: "did the bridge get it?").
-- $1 event_id uuid
SELECT id, event_id::text AS event_id, event_type, entity, source, entity_id::text AS entity_id, version,
       occurred_at, received_at, published_at, body
  FROM outbox WHERE event_id = $1::uuid
