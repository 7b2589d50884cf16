-- name: console_pipeline
-- Per entity, events received in the last $1 seconds and how far each got: published by the relay,
-- applied by the consumer that takes the entity (its inbox row), dead-lettered (an open dead letter), or
-- waiting (published, neither applied nor dead-lettered: in a consumer's hands, a retry tier or a
-- dependency wait).  Times to apply are from received to the inbox row.
-- $1 window_seconds float8, $2 entities text[], $3 consumers text[] (parallel: which consumer takes each)
WITH routes AS (
    SELECT entity, consumer FROM unnest($2::text[], $3::text[]) AS r(entity, consumer)
), recent AS (
    SELECT o.entity, o.received_at, o.published_at, a.processed_at,
           EXISTS (SELECT 1 FROM dead_letters d
                    WHERE d.event_id = o.event_id::text AND d.replayed_at IS NULL AND d.purged_at IS NULL) AS dead
      FROM outbox o
      LEFT JOIN routes r ON r.entity = o.entity
      LEFT JOIN LATERAL (SELECT i.processed_at FROM inbox i
                          WHERE i.consumer = r.consumer AND i.event_id = o.event_id) a ON true
     WHERE o.received_at >= now() - make_interval(secs => $1)
)
SELECT entity,
       count(*) AS ingested,
       count(published_at) AS published,
       count(processed_at) AS applied,
       count(*) FILTER (WHERE published_at IS NOT NULL AND processed_at IS NULL AND NOT dead) AS waiting,
       count(*) FILTER (WHERE dead AND processed_at IS NULL) AS dead_lettered,
       extract(epoch FROM now() - min(published_at) FILTER (
           WHERE published_at IS NOT NULL AND processed_at IS NULL AND NOT dead))::float8 AS oldest_waiting_seconds,
       (percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at))
           FILTER (WHERE processed_at IS NOT NULL))::float8 AS median_apply_seconds,
       max(extract(epoch FROM processed_at - received_at))::float8 AS max_apply_seconds,
       max(received_at) AS last_received_at,
       max(processed_at) AS last_applied_at
  FROM recent
 GROUP BY entity
 ORDER BY entity
