-- 014_idle_rules: an idle rule fires once per idle period of an
-- interaction; the period is known by the interaction's updated_at when it
-- began, and this table remembers which periods a rule has fired for.
CREATE TABLE rule_idle_fired (
  rule_id BIGINT NOT NULL,
  interaction_id BIGINT NOT NULL,
  idle_since BIGINT NOT NULL,
  PRIMARY KEY (rule_id, interaction_id, idle_since)
);
