-- 010_knowledge: knowledge-base articles per client, every version kept,
-- agents' feedback on suggested articles, and kb_changes: every change to
-- an article, numbered under a row lock (kb_head) so that numbers follow
-- commit order; each server follows it to keep its search index current.
CREATE TABLE articles (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '[]',
  audience TEXT NOT NULL DEFAULT 'internal',
  status TEXT NOT NULL DEFAULT 'draft',
  version INTEGER NOT NULL DEFAULT 1,
  author_id BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX articles_client ON articles(client_id, id);

CREATE TABLE article_versions (
  article_id BIGINT NOT NULL REFERENCES articles(id),
  version INTEGER NOT NULL,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  tags TEXT NOT NULL,
  audience TEXT NOT NULL,
  status TEXT NOT NULL,
  author_id BIGINT,
  at BIGINT NOT NULL,
  PRIMARY KEY (article_id, version)
);

CREATE TABLE kb_changes (
  seq BIGINT PRIMARY KEY,
  article_id BIGINT NOT NULL,
  at BIGINT NOT NULL
);
CREATE TABLE kb_head (
  id INTEGER PRIMARY KEY,
  seq BIGINT NOT NULL
);
INSERT INTO kb_head (id, seq) VALUES (1, 0);

CREATE TABLE article_feedback (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  article_id BIGINT NOT NULL REFERENCES articles(id),
  interaction_id BIGINT REFERENCES interactions(id),
  user_id BIGINT,
  helpful INTEGER NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX article_feedback_article ON article_feedback(article_id, id);
