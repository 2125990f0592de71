-- Vital signs in, alerts out (DESIGN.md sections 5 and 7).

-- One patients table for every seed's view of a patient: the registry's (full name, age, sex),
-- the painkiller service's (first/last name, age, condition) and the clinical trial's (subject
-- number, site, protocol, arm). Each view fills its own columns; at least one name is required.
ALTER TABLE patients
  ALTER COLUMN full_name DROP NOT NULL,
  ALTER COLUMN age DROP NOT NULL,
  ALTER COLUMN sex DROP NOT NULL,
  ADD COLUMN first_name      varchar(255),
  ADD COLUMN last_name       varchar(255),
  ADD COLUMN condition       text,
  ADD COLUMN subject_number  varchar(100),
  ADD COLUMN site_id         varchar(100),
  ADD COLUMN protocol_id     varchar(100),
  ADD COLUMN treatment_arm   varchar(100),
  ADD CONSTRAINT patients_subject_number_key UNIQUE (subject_number),
  ADD CONSTRAINT patients_named CHECK (num_nonnulls(full_name, first_name, subject_number) >= 1);

-- Optional limits beyond the seed's five: blood pressure, respiratory rate and the critical
-- bounds (what gRPC's VitalThreshold carries). NULL means "no limit".
ALTER TABLE threshold_profiles
  ADD COLUMN hr_critical_min    double precision,
  ADD COLUMN hr_critical_max    double precision,
  ADD COLUMN spo2_critical_min  double precision,
  ADD COLUMN temp_critical_min  double precision,
  ADD COLUMN temp_critical_max  double precision,
  ADD COLUMN sbp_min            double precision,
  ADD COLUMN sbp_max            double precision,
  ADD COLUMN sbp_critical_min   double precision,
  ADD COLUMN sbp_critical_max   double precision,
  ADD COLUMN dbp_min            double precision,
  ADD COLUMN dbp_max            double precision,
  ADD COLUMN dbp_critical_min   double precision,
  ADD COLUMN dbp_critical_max   double precision,
  ADD COLUMN rr_min             double precision,
  ADD COLUMN rr_max             double precision,
  ADD COLUMN rr_critical_min    double precision,
  ADD COLUMN rr_critical_max    double precision;

ALTER TABLE devices
  ADD COLUMN last_seen_at  timestamptz,
  -- Set when the device was reported offline; cleared by its next reading.
  ADD COLUMN offline_since timestamptz;
CREATE INDEX devices_last_seen_at_idx ON devices (last_seen_at) WHERE last_seen_at IS NOT NULL AND offline_since IS NULL;

-- One row per measurement set. `id` is the reading id: a sender's retry with the same id is
-- stored once. `seq` orders readings as they were stored (the PatientMonitor's catch-up cursor).
-- The checks are physiological plausibility: values outside them are refused, not stored.
CREATE TABLE vital_signs (
  id                uuid PRIMARY KEY,
  seq               bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  patient_id        uuid NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  device_id         uuid REFERENCES devices (id) ON DELETE SET NULL,
  source            varchar(20) NOT NULL CHECK (source IN ('device', 'trial', 'measurement', 'api')),
  visit_name        varchar(100),
  heart_rate        double precision CHECK (heart_rate BETWEEN 0 AND 350),
  spo2              double precision CHECK (spo2 BETWEEN 0 AND 100),
  temperature       double precision CHECK (temperature BETWEEN 20 AND 46),
  systolic_bp       double precision CHECK (systolic_bp BETWEEN 0 AND 350),
  diastolic_bp      double precision CHECK (diastolic_bp BETWEEN 0 AND 300),
  respiratory_rate  double precision CHECK (respiratory_rate BETWEEN 0 AND 150),
  weight_kg         double precision CHECK (weight_kg > 0 AND weight_kg <= 700),
  height_cm         double precision CHECK (height_cm > 0 AND height_cm <= 300),
  stroke            boolean,
  diabetes          boolean,
  measured_at       timestamptz NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vital_signs_patient_measured_idx ON vital_signs (patient_id, measured_at, id);
CREATE INDEX vital_signs_patient_seq_idx ON vital_signs (patient_id, seq);

-- At most one alert per patient and vital sign is not resolved: the database enforces it.
CREATE TABLE alerts (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  patient_id       uuid NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  vital_sign       varchar(30) NOT NULL,
  severity         varchar(10) NOT NULL CHECK (severity IN ('warning', 'critical')),
  status           varchar(15) NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
  peak             double precision NOT NULL,
  count            integer NOT NULL CHECK (count >= 1),
  bounds           jsonb NOT NULL,
  first_seen       timestamptz NOT NULL,
  last_seen        timestamptz NOT NULL,
  acknowledged_at  timestamptz,
  acknowledged_by  text,
  -- When the alert became critical (raised as critical, or a warning that worsened): the
  -- escalation clock runs from here, not from when the alert was raised.
  critical_since   timestamptz,
  escalated_at     timestamptz,
  resolved_at      timestamptz,
  resolved_by      text,
  -- Milliseconds, as JavaScript dates and the list's keyset cursors carry them: a cursor then
  -- names its row exactly.
  created_at       timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alerts_one_active_idx ON alerts (patient_id, vital_sign) WHERE status <> 'resolved';
CREATE INDEX alerts_created_at_id_idx ON alerts (created_at, id);
CREATE INDEX alerts_escalation_idx ON alerts (critical_since) WHERE status = 'open' AND severity = 'critical' AND escalated_at IS NULL;

-- What a PatientMonitor keeps between activations besides its open alerts: the breach and
-- in-range counters per vital sign, and the last reading it evaluated (so that readings stored
-- but not evaluated before a crash are evaluated on the next activation).
CREATE TABLE patient_monitors (
  patient_id  uuid PRIMARY KEY REFERENCES patients (id) ON DELETE CASCADE,
  last_seq    bigint NOT NULL DEFAULT 0,
  counters    jsonb NOT NULL DEFAULT '{}',
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A reading touches its device's last_seen_at; that is not a registry change, so the cache
-- notification now fires only when what the registry shows changes.
DROP TRIGGER devices_changed ON devices;
CREATE TRIGGER devices_changed AFTER UPDATE OF serial, firmware, patient_id OR DELETE ON devices
  FOR EACH ROW EXECUTE FUNCTION vigil_registry_changed('id');

-- Every reading asks for its patient's threshold profile, and most patients have none: the
-- caches keep "no profile" too, so a new profile must notify like a changed one.
DROP TRIGGER threshold_profiles_changed ON threshold_profiles;
CREATE TRIGGER threshold_profiles_changed AFTER INSERT OR UPDATE OR DELETE ON threshold_profiles
  FOR EACH ROW EXECUTE FUNCTION vigil_registry_changed('patient_id');
