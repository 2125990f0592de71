-- Seed 002's tables call a patient's key `patient_id`, and its document tells users to check a
-- batch with `... WHERE patient_id IN (SELECT patient_id FROM patients WHERE subject_number = ...)`.
-- Without this column PostgreSQL reads the inner `patient_id` as the outer row's, and that query
-- answers every subject's vital signs. A generated copy of `id` makes it answer exactly the
-- subject's (it is never written, and indexed so that the query uses it).
ALTER TABLE patients ADD COLUMN patient_id uuid GENERATED ALWAYS AS (id) STORED;
CREATE UNIQUE INDEX patients_patient_id_key ON patients (patient_id);
