-- The outbox's commit notice must carry a payload: @effect/sql-pg's `listen` drops notices whose
-- payload is empty, so with 0002's '' the relay only ever woke on its poll interval.
CREATE OR REPLACE FUNCTION vigil_outbox_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vigil_outbox', 'written');
  RETURN NULL;
END
$$;
