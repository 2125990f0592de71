-- Traces across the outbox (issue 17): the W3C traceparent of the span that wrote an event, so the
-- relay's publication (and a subscriber) continues the writer's trace. NULL when tracing is off.
ALTER TABLE outbox ADD COLUMN traceparent text;

-- The relay's read (migration 0010) answers the traceparent too; its result type changes, so it is
-- dropped and created again, the same but for that column.
DROP FUNCTION vigil_outbox_next(bigint[], integer);
CREATE FUNCTION vigil_outbox_next(stamp bigint[], batch_size integer)
RETURNS TABLE (seq bigint, event_id uuid, subject text, event text, traceparent text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  PERFORM vigil_audit_chain_waiting(batch_size);
  IF cardinality(stamp) > 0 THEN
    UPDATE outbox SET published_at = now() WHERE outbox.seq = ANY(stamp);
  END IF;
  RETURN QUERY
    SELECT o.seq, o.event_id, o.subject, o.event::text, o.traceparent FROM outbox o
    WHERE o.published_at IS NULL AND o.seq < COALESCE((
      SELECT min(w.seq) FROM outbox w
      WHERE w.published_at IS NULL AND w.subject LIKE 'audit.%' AND w.event->'data'->>'hash' = ''), 9223372036854775807)
    ORDER BY o.seq LIMIT batch_size;
END
$$;
