-- The registry of seed 000: patients, devices and one threshold profile per patient.
-- Constraints live here, not only in the API: the database refuses what the API would refuse.

CREATE TABLE patients (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  full_name   varchar(255) NOT NULL CHECK (char_length(full_name) BETWEEN 1 AND 255),
  age         integer NOT NULL CHECK (age BETWEEN 0 AND 150),
  sex         varchar(10) NOT NULL CHECK (sex IN ('M', 'F', 'Other')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patients_created_at_id_idx ON patients (created_at, id);

CREATE TABLE devices (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  serial      varchar(100) NOT NULL CHECK (char_length(serial) >= 1),
  firmware    varchar(50) NOT NULL CHECK (char_length(firmware) >= 1),
  patient_id  uuid NULL REFERENCES patients (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT devices_serial_key UNIQUE (serial)
);
CREATE INDEX devices_patient_id_idx ON devices (patient_id);
CREATE INDEX devices_created_at_id_idx ON devices (created_at, id);

CREATE TABLE threshold_profiles (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id  uuid NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  hr_min      double precision NOT NULL CHECK (hr_min >= 0),
  hr_max      double precision NOT NULL CHECK (hr_max >= 0),
  spo2_min    double precision NOT NULL CHECK (spo2_min BETWEEN 0 AND 100),
  temp_min    double precision NOT NULL CHECK (temp_min >= 0),
  temp_max    double precision NOT NULL CHECK (temp_max >= 0),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT threshold_profiles_patient_id_key UNIQUE (patient_id),
  CONSTRAINT threshold_profiles_hr_range CHECK (hr_max > hr_min),
  CONSTRAINT threshold_profiles_temp_range CHECK (temp_max > temp_min)
);
CREATE INDEX threshold_profiles_created_at_id_idx ON threshold_profiles (created_at, id);

-- Every Vigil process caches registry reads; this notification tells all of them
-- which key changed, whoever wrote it. The payload is "<table>:<key>". Inserts need no
-- notice: misses are never cached.
CREATE FUNCTION vigil_registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  key_column text := TG_ARGV[0];
  row_data jsonb := to_jsonb(COALESCE(NEW, OLD));
BEGIN
  PERFORM pg_notify('vigil_registry_changed', TG_TABLE_NAME || ':' || (row_data ->> key_column));
  IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) ->> key_column) IS DISTINCT FROM (row_data ->> key_column) THEN
    PERFORM pg_notify('vigil_registry_changed', TG_TABLE_NAME || ':' || (to_jsonb(OLD) ->> key_column));
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER patients_changed AFTER UPDATE OR DELETE ON patients
  FOR EACH ROW EXECUTE FUNCTION vigil_registry_changed('id');
CREATE TRIGGER devices_changed AFTER UPDATE OR DELETE ON devices
  FOR EACH ROW EXECUTE FUNCTION vigil_registry_changed('id');
CREATE TRIGGER threshold_profiles_changed AFTER UPDATE OR DELETE ON threshold_profiles
  FOR EACH ROW EXECUTE FUNCTION vigil_registry_changed('patient_id');
