-- The contract version of this database. Result: one row (version).
SELECT version FROM cosched_contract;
