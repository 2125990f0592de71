-- The audit chain no longer makes writers wait for each other (issue 15).
--
-- Before (0005): every transaction that wrote an audit row took the chain's lock at commit and
-- held it through its commit's WAL flush, and the outbox's NOTIFY took PostgreSQL's notify-queue
-- lock the same way: all writes in the system committed one at a time.
--
-- Now:
-- - An audit row is inserted waiting: `seq` far above any chained row's (WAITING_SEQ plus its
--   place in line), empty hashes.
-- - At commit, a writer chains only if the chain's lock is free (a try-lock, never a wait): it
--   first chains the rows others left waiting that it can see (committed before it), then its
--   own, as 0005 did. A writer that finds the lock taken commits at once and leaves its rows
--   waiting.
-- - `vigil_audit_chain_waiting` chains what is left, in the order the rows became visible; the
--   outbox relay calls it before every batch it reads (`vigil_outbox_next`), and the audit
--   trail's readers before they read, so a row waits at most until the relay's next wake-up.
-- - Chaining stamps the chained values into the row's audit event in the outbox and gives that
--   event its place in the outbox then, so the audit stream is published in chain order; the
--   relay publishes nothing from the first audit event not chained yet onwards.
-- - The outbox no longer notifies at commit: Vigil wakes its relay in process after a commit
--   (src/persistence/OutboxSignal.ts) and notifies other processes outside the transaction.
-- What stays: append-only, every chained row hashed onto the one before it, gap-free `seq`.

DROP TRIGGER outbox_written ON outbox;
DROP FUNCTION vigil_outbox_written();

DROP TRIGGER audit_events_chain_at_commit ON audit_events;
DROP FUNCTION vigil_audit_chain_at_commit();

-- Rows at or above this `seq` wait to be chained; chained rows count from 1.
CREATE FUNCTION vigil_audit_waiting_seq() RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT 1000000000000000::bigint $$;

CREATE OR REPLACE FUNCTION vigil_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.seq := vigil_audit_waiting_seq() + nextval('audit_events_pending_seq');
  NEW.prev_hash := '';
  NEW.hash := '';
  RETURN NEW;
END
$$;

-- Chains up to `max_rows` waiting rows this transaction can see, in line order, onto the chain's
-- head. The caller holds the chain's lock. Answers how many it chained.
CREATE FUNCTION vigil_audit_chain_visible(max_rows integer, only_id uuid DEFAULT NULL) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  head record;
  last_seq bigint;
  last_hash text;
  waiting record;
  chained_hash text;
  chained integer := 0;
BEGIN
  SELECT seq, hash INTO head FROM audit_events WHERE seq < vigil_audit_waiting_seq() ORDER BY seq DESC LIMIT 1;
  last_seq := COALESCE(head.seq, 0);
  last_hash := COALESCE(head.hash, repeat('0', 64));
  PERFORM set_config('vigil.audit_chaining', 'on', true);
  FOR waiting IN
    SELECT * FROM audit_events
    WHERE seq >= vigil_audit_waiting_seq() AND (only_id IS NULL OR id = only_id)
    ORDER BY seq LIMIT max_rows
  LOOP
    last_seq := last_seq + 1;
    chained_hash := vigil_audit_hash(last_hash, waiting.id, waiting.occurred_at, waiting.actor, waiting.action,
      waiting.entity_type, waiting.entity_id, waiting.before, waiting.after);
    UPDATE audit_events SET seq = last_seq, prev_hash = last_hash, hash = chained_hash WHERE id = waiting.id;
    -- The audit event's id is the audit row's (ChangeLog).
    UPDATE outbox SET
      seq = nextval('outbox_seq_seq'),
      event = jsonb_set(jsonb_set(jsonb_set(event,
        '{data,seq}', to_jsonb(last_seq)),
        '{data,prev_hash}', to_jsonb(last_hash)),
        '{data,hash}', to_jsonb(chained_hash))
    WHERE event_id = waiting.id;
    last_hash := chained_hash;
    chained := chained + 1;
  END LOOP;
  PERFORM set_config('vigil.audit_chaining', 'off', true);
  RETURN chained;
END
$$;

-- Chains the waiting rows this transaction can see (up to `max_rows`), waiting for the lock.
CREATE FUNCTION vigil_audit_chain_waiting(max_rows integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(7346210002);
  RETURN vigil_audit_chain_visible(max_rows);
END
$$;

-- At a writer's commit: when the lock is free, what others left waiting, then this row.
CREATE FUNCTION vigil_audit_chain_if_free() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id AND seq >= vigil_audit_waiting_seq()) THEN
    RETURN NULL; -- chained already (by this transaction's own catching up)
  END IF;
  IF pg_try_advisory_xact_lock(7346210002) THEN
    PERFORM vigil_audit_chain_visible(1000);
  END IF;
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER audit_events_chain_if_free AFTER INSERT ON audit_events
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION vigil_audit_chain_if_free();

-- Still append-only: the one change allowed is the chaining of a waiting row, by the functions above.
CREATE OR REPLACE FUNCTION vigil_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND current_setting('vigil.audit_chaining', true) = 'on'
     AND OLD.seq >= vigil_audit_waiting_seq() AND OLD.hash = '' AND NEW.seq < vigil_audit_waiting_seq()
     AND NEW.id = OLD.id AND NEW.occurred_at = OLD.occurred_at AND NEW.actor = OLD.actor AND NEW.action = OLD.action
     AND NEW.entity_type = OLD.entity_type AND NEW.entity_id = OLD.entity_id
     AND NEW.before IS NOT DISTINCT FROM OLD.before AND NEW.after IS NOT DISTINCT FROM OLD.after THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

-- The relay's one round trip per batch: chains what waits, stamps what the bus acknowledged
-- (`stamp`), and answers the next batch in outbox order, up to (not including) the first audit
-- event not yet chained (it became visible after the chaining; the next call chains it).
CREATE FUNCTION vigil_outbox_next(stamp bigint[], batch_size integer)
RETURNS TABLE (seq bigint, event_id uuid, subject text, event text) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  PERFORM vigil_audit_chain_waiting(batch_size);
  IF cardinality(stamp) > 0 THEN
    UPDATE outbox SET published_at = now() WHERE outbox.seq = ANY(stamp);
  END IF;
  RETURN QUERY
    SELECT o.seq, o.event_id, o.subject, o.event::text FROM outbox o
    WHERE o.published_at IS NULL AND o.seq < COALESCE((
      SELECT min(w.seq) FROM outbox w
      WHERE w.published_at IS NULL AND w.subject LIKE 'audit.%' AND w.event->'data'->>'hash' = ''), 9223372036854775807)
    ORDER BY o.seq LIMIT batch_size;
END
$$;
