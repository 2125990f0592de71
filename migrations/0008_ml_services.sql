-- The medical ML service registry (seed 001): the services' metadata as the seed's SDK sends it,
-- their registration order (kept by a re-registration), their heartbeat lease and the last probe
-- of their health URL. The original kept all of this in memory.

CREATE SEQUENCE ml_services_position_seq;

CREATE TABLE ml_services (
  service_id      varchar(255) PRIMARY KEY CHECK (char_length(service_id) >= 1),
  -- Registration order: the list's order; a re-registration keeps its place.
  position        bigint NOT NULL DEFAULT nextval('ml_services_position_seq') UNIQUE,
  service_name    text NOT NULL,
  version         text NOT NULL,
  description     text NOT NULL DEFAULT '',
  base_url        text NOT NULL,
  port            integer NOT NULL,
  endpoints       jsonb NOT NULL CHECK (jsonb_typeof(endpoints) = 'object'),
  input_schema    jsonb NOT NULL CHECK (jsonb_typeof(input_schema) = 'object'),
  output_schema   jsonb NOT NULL CHECK (jsonb_typeof(output_schema) = 'object'),
  tags            text[] NOT NULL DEFAULT '{}',
  capabilities    jsonb CHECK (capabilities IS NULL OR jsonb_typeof(capabilities) = 'object'),
  -- The metadata's own times, as text as the seed's clients send and read them.
  registered_at   text NOT NULL,
  last_heartbeat  text,
  -- The lease: its last beat (registration or heartbeat) as last written, which is at most a lease
  -- fraction behind the last beat a process has seen; passing or critical.
  heartbeat_at    timestamptz NOT NULL,
  lease_status    varchar(10) NOT NULL DEFAULT 'passing' CHECK (lease_status IN ('passing', 'critical')),
  critical_since  timestamptz,
  -- The last probe of the service's health URL (NULL: not probed yet).
  probe_status    varchar(10) CHECK (probe_status IN ('healthy', 'unhealthy')),
  probe_detail    text,
  probed_at       timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ml_services_critical_since CHECK ((lease_status = 'critical') = (critical_since IS NOT NULL))
);
ALTER SEQUENCE ml_services_position_seq OWNED BY ml_services.position;
CREATE INDEX ml_services_tags_idx ON ml_services USING gin (tags);
CREATE INDEX ml_services_passing_idx ON ml_services (heartbeat_at) WHERE lease_status = 'passing';
CREATE INDEX ml_services_critical_idx ON ml_services (critical_since) WHERE lease_status = 'critical';

-- Every process caches lookups of a service by id (`RegistryCache`); a change, by any process,
-- drops the service from every process's cache. Inserts need no notice: misses are not cached.
CREATE TRIGGER ml_services_changed AFTER UPDATE OR DELETE ON ml_services
  FOR EACH ROW EXECUTE FUNCTION vigil_registry_changed('service_id');
