-- name: trace_events
-- Events stored for one 1C object (newest first), with which consumers applied each.
-- $1 entity_id uuid, $2 limit int
SELECT o.event_id::text AS event_id, o.event_type, o.source, o.entity, o.entity_id::text AS entity_id, o.version,
       o.occurred_at, o.received_at, o.published_at, o.replays, o.body->'payload'->>'number' AS number,
       o.body->'payload'->>'date' AS date,
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
SELECT o.event_id::text AS event_id, o.event_type, o.source, o.entity, o.entity_id::text AS entity_id, o.version,
       o.occurred_at, o.received_at, o.published_at, o.replays, o.body->'payload'->>'number' AS number,
       o.body->'payload'->>'date' AS date,
       coalesce(array_agg(i.consumer ORDER BY i.consumer) FILTER (WHERE i.consumer IS NOT NULL), '{}') AS applied_by
  FROM outbox o
  LEFT JOIN inbox i ON i.event_id = o.event_id
 WHERE o.event_id = $1::uuid
 GROUP BY o.id

-- name: trace_outcome_event
-- An event known only from the consumers' outcomes (its outbox row purged): its 1C object.
-- $1 event_id uuid
SELECT entity, entity_id::text AS entity_id
  FROM event_outcomes
 WHERE event_id = $1::uuid AND entity_id IS NOT NULL
 ORDER BY id DESC
 LIMIT 1

-- name: trace_links
-- Bitrix24 objects made for a 1C object (as the object itself or as a part of it).
-- $1 onec_id text
SELECT source, onec_type, onec_id, b24_type, b24_id, version, updated_at
  FROM entity_links
 WHERE onec_id = $1 OR onec_id LIKE $1 || '/%'
 ORDER BY onec_type, b24_type

-- name: trace_order_documents
-- The projection of an order: its documents, what each contributes, the latest outcome of the document's
-- events (any consumer: waiting, dead-lettered, handed over …) and, while its facts are merged but not yet
-- in the deal (its order_resync row), since when they wait for the deal's recompute.
-- $1 order_id uuid
SELECT d.doc_type, d.doc_id::text AS doc_id, d.version, d.ever_posted, d.snapshot->>'number' AS number,
       d.snapshot->>'date' AS date, (d.snapshot->>'posted')::boolean AS posted,
       (d.snapshot->>'deleted')::boolean AS deleted, l.amount,
       e.event_id::text AS last_event_id, e.consumer AS last_consumer, e.outcome AS last_outcome,
       e.reason AS last_reason, e.missing AS last_missing, e.at AS last_at, r.written_at AS deal_pending_since
  FROM order_document_links l
  JOIN order_documents d ON d.source = l.source AND d.doc_type = l.doc_type AND d.doc_id = l.doc_id
  LEFT JOIN LATERAL (SELECT o.event_id, o.consumer, o.outcome, o.reason, o.missing, o.at FROM event_outcomes o
                      WHERE o.entity_id = d.doc_id ORDER BY o.id DESC LIMIT 1) e ON true
  LEFT JOIN order_resync r ON r.source = l.source AND r.doc_type = l.doc_type AND r.doc_id = l.doc_id
                          AND r.order_id = l.order_id
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

-- name: trace_outcomes
-- What the consumers did with these events or with any event of this 1C object, oldest first.
-- $1 event_ids uuid[], $2 entity_id uuid, $3 limit int
SELECT * FROM (
  SELECT id, event_id::text AS event_id, consumer, outcome, at, entity, entity_id::text AS entity_id, reason, error,
         retry_tier, missing, waiting_since, calls
    FROM event_outcomes
   WHERE event_id = ANY($1::uuid[]) OR entity_id = $2::uuid OR event_id = $2::uuid
   ORDER BY id DESC
   LIMIT $3) newest
 ORDER BY id

-- name: trace_by_number
-- Orders and documents with this 1C number (from the events kept and the order projection), optionally of
-- one source and one date (YYYY-MM-DD); one row per document, its latest number and date.
-- $1 number text, $2 source text or NULL, $3 date text or NULL
SELECT DISTINCT ON (source, entity, entity_id) source, entity, entity_id::text AS entity_id, number, date
  FROM (SELECT source, entity, entity_id, body->'payload'->>'number' AS number, body->'payload'->>'date' AS date,
               received_at AS seen
          FROM outbox
         WHERE entity IN ('customer_order', 'invoice', 'payment', 'shipment')
           AND body->'payload'->>'number' = $1
        UNION ALL
        SELECT source, doc_type, doc_id, snapshot->>'number', snapshot->>'date', updated_at
          FROM order_documents
         WHERE snapshot->>'number' = $1) found
 WHERE ($2::text IS NULL OR source = $2) AND ($3::text IS NULL OR left(date, 10) = $3)
 ORDER BY source, entity, entity_id, seen DESC

-- name: trace_by_b24
-- The 1C objects a Bitrix24 object was made for.
-- $1 b24_type text, $2 b24_id bigint
SELECT source, onec_type, onec_id
  FROM entity_links
 WHERE b24_type = $1 AND b24_id = $2
 ORDER BY onec_type, onec_id

-- name: trace_document_orders
-- The orders a document (invoice, payment, shipment) counts for, by its latest snapshot.
-- $1 doc_id uuid
SELECT DISTINCT order_id::text AS order_id FROM order_document_links WHERE doc_id = $1::uuid ORDER BY 1

-- name: trace_dependency
-- Is a 1C object in Bitrix24, did 1C send it, and what happened to its latest event?
-- $1 onec_type text, $2 entity_id uuid
SELECT (SELECT array_agg(b24_type || ' ' || b24_id ORDER BY b24_type) FROM entity_links
         WHERE onec_type = $1 AND onec_id = $2::text) AS in_b24,
       o.event_id::text AS event_id, o.received_at, o.published_at, x.consumer, x.outcome, x.at, x.reason, x.error
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT event_id, received_at, published_at FROM outbox WHERE entity_id = $2::uuid
                      ORDER BY id DESC LIMIT 1) o ON true
  LEFT JOIN LATERAL (SELECT consumer, outcome, at, reason, error FROM event_outcomes
                      WHERE event_id = o.event_id ORDER BY id DESC LIMIT 1) x ON true
