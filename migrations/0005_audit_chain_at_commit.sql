-- The audit chain is now appended at commit, not at insert.
--
-- Before: each audit row took the chain's lock when it was inserted and held it until its
-- transaction committed, so every transaction that writes an audit row (alerts above all) waited
-- for the one before it across that transaction's remaining round trips to Vigil. Under load,
-- with Vigil's event loop busy, those round trips are what serialised alerting.
--
-- Now: an audit row is inserted with a placeholder (a negative `seq`, empty hashes), which only
-- its own transaction can see; a deferred constraint trigger chains it when the transaction
-- commits: it takes the lock (held from there to the end of the commit, inside PostgreSQL),
-- draws its final `seq`, hashes it onto the row before, and stamps the same values into the
-- audit event the transaction wrote to the outbox, whose `seq` it draws again too, so that the
-- audit stream is published in chain order. What other transactions can see is unchanged: every
-- row chained, `seq` order is chain order.

CREATE SEQUENCE audit_events_pending_seq;

CREATE OR REPLACE FUNCTION vigil_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.seq := -nextval('audit_events_pending_seq');
  NEW.prev_hash := '';
  NEW.hash := '';
  RETURN NEW;
END
$$;

CREATE FUNCTION vigil_audit_chain_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  last_hash text;
  chained_seq bigint;
  chained_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock(7346210002);
  SELECT hash INTO last_hash FROM audit_events WHERE seq > 0 ORDER BY seq DESC LIMIT 1;
  last_hash := COALESCE(last_hash, repeat('0', 64));
  chained_seq := nextval('audit_events_seq');
  chained_hash := vigil_audit_hash(last_hash, NEW.id, NEW.occurred_at, NEW.actor, NEW.action,
    NEW.entity_type, NEW.entity_id, NEW.before, NEW.after);
  UPDATE audit_events SET seq = chained_seq, prev_hash = last_hash, hash = chained_hash WHERE id = NEW.id;
  -- The audit event's id is the audit row's id (ChangeLog).
  UPDATE outbox SET
    seq = nextval('outbox_seq_seq'),
    event = jsonb_set(jsonb_set(jsonb_set(event,
      '{data,seq}', to_jsonb(chained_seq)),
      '{data,prev_hash}', to_jsonb(last_hash)),
      '{data,hash}', to_jsonb(chained_hash))
  WHERE event_id = NEW.id;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER audit_events_chain_at_commit AFTER INSERT ON audit_events
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION vigil_audit_chain_at_commit();

-- Still append-only: the one change allowed is the chaining of a placeholder, by the trigger above.
CREATE OR REPLACE FUNCTION vigil_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND pg_trigger_depth() > 1 AND OLD.seq < 0 AND OLD.hash = '' AND NEW.seq > 0
     AND NEW.id = OLD.id AND NEW.occurred_at = OLD.occurred_at AND NEW.actor = OLD.actor AND NEW.action = OLD.action
     AND NEW.entity_type = OLD.entity_type AND NEW.entity_id = OLD.entity_id
     AND NEW.before IS NOT DISTINCT FROM OLD.before AND NEW.after IS NOT DISTINCT FROM OLD.after THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
