-- 018_mail_survey: a satisfaction survey emailed when an email interaction
-- is resolved, if the client wants one.
ALTER TABLE mail_settings ADD COLUMN survey INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mail_settings ADD COLUMN survey_text TEXT NOT NULL DEFAULT '';
