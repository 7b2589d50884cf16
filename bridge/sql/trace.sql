-- name: trace_events
-- Events stored for one 1C object (newest first), with which consumers applied each.
-- $1 entity_id uuid, $2 limit int
SELECT o.event_id::text AS event_id, o.event_type, o.source, o.version, o.occurred_at, o.received_at,
       o.published_at,
       coalesce(array_agg(i.consumer ORDER BY i.consumer) FILTER (WHERE i.consumer IS NOT NULL), '{}') AS applied_by
  FROM outbox o
  LEFT JOIN inbox i ON i.event_id = o.event_id
 WHERE o.entity_id = $1::uuid
 GROUP BY o.id
 ORDER BY o.id DESC
 LIMIT $2

-- name: trace_event
-- One event by its event_id, with which consumers applied it.
-- $1 event_id uuid
SELECT o.event_id::text AS event_id, o.event_type, o.source, o.entity_id::text AS entity_id, o.version,
       o.occurred_at, o.received_at, o.published_at,
       coalesce(array_agg(i.consumer ORDER BY i.consumer) FILTER (WHERE i.consumer IS NOT NULL), '{}') AS applied_by
  FROM outbox o
  LEFT JOIN inbox i ON i.event_id = o.event_id
 WHERE o.event_id = $1::uuid
 GROUP BY o.id

-- name: trace_links
-- Bitrix24 objects made for a 1C object (as the object itself or as a part of it).
-- $1 onec_id text
SELECT source, onec_type, onec_id, b24_type, b24_id, version, updated_at
  FROM entity_links
 WHERE onec_id = $1 OR onec_id LIKE $1 || '/%'
 ORDER BY onec_type, b24_type

-- name: trace_order_documents
-- The projection of an order: its documents and what each contributes.
-- $1 order_id uuid
SELECT d.doc_type, d.doc_id::text AS doc_id, d.version, d.ever_posted, d.snapshot->>'number' AS number,
       d.snapshot->>'date' AS date, (d.snapshot->>'posted')::boolean AS posted,
       (d.snapshot->>'deleted')::boolean AS deleted, l.amount
  FROM order_document_links l
  JOIN order_documents d ON d.source = l.source AND d.doc_type = l.doc_type AND d.doc_id = l.doc_id
 WHERE l.order_id = $1::uuid
 ORDER BY d.snapshot->>'date', d.doc_type

-- name: outcome_insert
-- What one consumer did with one event (bridge.outcomes); the Bitrix24 calls of that attempt as JSON.
-- $1 event_id uuid, $2 consumer text, $3 outcome text, $4 entity text, $5 entity_id uuid, $6 reason text,
-- $7 error text, $8 retry_tier int, $9 missing text[], $10 waiting_since timestamptz, $11 calls jsonb
INSERT INTO event_outcomes (event_id, consumer, outcome, entity, entity_id, reason, error, retry_tier, missing,
                            waiting_since, calls)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)

-- name: outcome_purge
-- Delete up to $2 outcomes recorded before $1 (BRIDGE_TRACE_RETENTION_DAYS), oldest first.
-- $1 before timestamptz, $2 limit int
DELETE FROM event_outcomes
 WHERE id IN (SELECT id FROM event_outcomes WHERE at < $1 ORDER BY id LIMIT $2)
