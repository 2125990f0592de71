-- The events backbone (DESIGN.md section 6): a transactional outbox relayed to NATS JetStream,
-- and an append-only, hash-chained audit trail.

-- Rows written in the same transaction as the change they describe; the relay publishes them in
-- `seq` order and stamps `published_at`. `subject` is relative ("events.patient.created"): the
-- relay adds the configured prefix.
CREATE TABLE outbox (
  seq           bigserial PRIMARY KEY,
  event_id      uuid NOT NULL UNIQUE,
  subject       text NOT NULL,
  event         jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Wakes the relay as soon as a transaction with outbox rows commits (notices are delivered at commit).
CREATE FUNCTION vigil_outbox_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vigil_outbox', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER outbox_written AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION vigil_outbox_written();

CREATE TABLE audit_events (
  seq          bigint PRIMARY KEY,
  id           uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor        text NOT NULL,
  action       text NOT NULL,
  entity_type  text NOT NULL,
  entity_id    text NOT NULL,
  before       jsonb,
  after        jsonb,
  prev_hash    text NOT NULL,
  hash         text NOT NULL
);
CREATE SEQUENCE audit_events_seq OWNED BY audit_events.seq;
CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id, seq);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at, seq);

-- The hash of one audit row: SHA-256 over the previous row's hash and this row's content, in a
-- canonical text form (jsonb's text form is canonical). Used on insert and by verification.
CREATE FUNCTION vigil_audit_hash(
  prev_hash text, id uuid, occurred_at timestamptz, actor text, action text,
  entity_type text, entity_id text, before jsonb, after jsonb
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(concat_ws(E'\x1f',
    prev_hash, id::text, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    actor, action, entity_type, entity_id,
    COALESCE(before::text, 'null'), COALESCE(after::text, 'null')), 'UTF8')), 'hex')
$$;

-- Chains each new row onto the last one. The lock serialises appenders until they commit, and
-- `seq` is drawn only once the lock is held, so `seq` order is chain order.
CREATE FUNCTION vigil_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  last_hash text;
BEGIN
  PERFORM pg_advisory_xact_lock(7346210002);
  SELECT hash INTO last_hash FROM audit_events ORDER BY seq DESC LIMIT 1;
  NEW.seq := nextval('audit_events_seq');
  NEW.prev_hash := COALESCE(last_hash, repeat('0', 64));
  NEW.hash := vigil_audit_hash(NEW.prev_hash, NEW.id, NEW.occurred_at, NEW.actor, NEW.action,
    NEW.entity_type, NEW.entity_id, NEW.before, NEW.after);
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION vigil_audit_chain();

-- Append-only: the database itself refuses to change or remove audit rows.
CREATE FUNCTION vigil_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION vigil_audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION vigil_audit_append_only();
