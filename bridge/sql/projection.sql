-- name: projection_document
-- The stored snapshot of one document, locked for this transaction.
-- $1 source, $2 doc_type, $3 doc_id uuid
SELECT version, snapshot, ever_posted
  FROM order_documents
 WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid
   FOR UPDATE

-- name: projection_document_upsert
-- Store a document's snapshot (the caller has checked the version is newer, or the row is new) and
-- remember for good whether any version was posted.
-- $1 source, $2 doc_type, $3 doc_id uuid, $4 version bigint, $5 snapshot jsonb, $6 posted boolean
INSERT INTO order_documents (source, doc_type, doc_id, version, snapshot, ever_posted)
VALUES ($1, $2, $3::uuid, $4, $5, $6)
    ON CONFLICT (source, doc_type, doc_id) DO UPDATE
   SET version = EXCLUDED.version, snapshot = EXCLUDED.snapshot,
       ever_posted = order_documents.ever_posted OR EXCLUDED.ever_posted, updated_at = now()

-- name: projection_mark_posted
-- A stale snapshot still tells that the document was posted at some version.
-- $1 source, $2 doc_type, $3 doc_id uuid
UPDATE order_documents SET ever_posted = true
 WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid AND NOT ever_posted

-- name: projection_links_of
-- The orders a document touches now.
-- $1 source, $2 doc_type, $3 doc_id uuid
SELECT order_id::text AS order_id, amount FROM order_document_links
 WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid

-- name: projection_links_clear
-- $1 source, $2 doc_type, $3 doc_id uuid
DELETE FROM order_document_links WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid

-- name: projection_links_add
-- $1 source, $2 doc_type, $3 doc_id uuid, $4 order_ids uuid[], $5 amounts numeric[]
INSERT INTO order_document_links (source, doc_type, doc_id, order_id, amount)
SELECT $1, $2, $3::uuid, o, a FROM unnest($4::uuid[], $5::numeric[]) AS u(o, a)

-- name: projection_order_facts
-- Everything known about one order: its own snapshot and every document touching it.
-- $1 source, $2 order_id uuid
SELECT d.doc_type, d.doc_id::text AS doc_id, d.version, d.snapshot, d.ever_posted, l.amount
  FROM order_document_links l
  JOIN order_documents d ON d.source = l.source AND d.doc_type = l.doc_type AND d.doc_id = l.doc_id
 WHERE l.source = $1 AND l.order_id = $2::uuid
 ORDER BY d.doc_type, d.doc_id

-- name: projection_order
-- The order's own snapshot (also when no link names it yet).
-- $1 source, $2 order_id uuid
SELECT version, snapshot, ever_posted FROM order_documents
 WHERE source = $1 AND doc_type = 'customer_order' AND doc_id = $2::uuid

-- name: projection_resync_add
-- Remember the orders a newer snapshot of a document touched (before or now) until each is recomputed.
-- $1 source, $2 doc_type, $3 doc_id uuid, $4 order_ids uuid[]
INSERT INTO order_resync (source, doc_type, doc_id, order_id)
SELECT $1, $2, $3::uuid, o FROM unnest($4::uuid[]) AS u(o)
    ON CONFLICT DO NOTHING

-- name: projection_resync_of
-- Orders a document touched that still wait for their deal to be recomputed.
-- $1 source, $2 doc_type, $3 doc_id uuid
SELECT order_id::text AS order_id FROM order_resync WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid

-- name: projection_resync_done
-- The order's deal was recomputed from all its facts: nothing waits for it any more.
-- $1 source, $2 order_id uuid
DELETE FROM order_resync WHERE source = $1 AND order_id = $2::uuid
