-- 004_queue_skills: skills a queue requires of its agents by default, for
-- interactions that name none of their own ([{name, level}], most
-- important first).
ALTER TABLE queues ADD COLUMN skills_json TEXT NOT NULL DEFAULT '[]';
