-- 0008: indexes for how the bureau queries the ledger.
-- "Projects in stage X, paged by code" walked the code index and discarded most rows after
-- reading them; (stage, code) reads only that stage, in page order.  "Stage X above an
-- investment threshold" (the typical CQL2 filter) counted by visiting thousands of heap pages;
-- (stage, investment) counts with an index-only scan.  Measured on the 100,000-project sample
-- city: page 50 ms -> 2 ms, count 21 ms -> 0.5 ms.
DROP INDEX IF EXISTS sitewatch.project_stage_idx;   -- (stage, code) serves every stage lookup
CREATE INDEX project_stage_code_idx ON sitewatch.project (stage, code);
CREATE INDEX project_stage_investment_idx ON sitewatch.project (stage, investment);
