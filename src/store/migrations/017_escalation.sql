-- 017_escalation: escalation tiers. An interaction is with the agent, a
-- team lead, a supervisor or the client's contact; an SLA policy may say by
-- when each tier should have it (minutes from creation), so each
-- escalation is recorded as early, on time or late against the policy.
ALTER TABLE interactions ADD COLUMN escalation_tier TEXT NOT NULL DEFAULT 'agent';
ALTER TABLE sla_policies ADD COLUMN escalation TEXT NOT NULL DEFAULT '[]';
