-- Runs once when the compose Postgres volume is created.
-- dagster: run/event/schedule storage. finops: the warehouse. finops_reader: what the BI tool uses,
-- read-only and limited to the marts schema (analysts never see raw tables).
CREATE DATABASE dagster;
CREATE DATABASE finops;
\connect finops
CREATE SCHEMA IF NOT EXISTS marts;
CREATE ROLE finops_reader LOGIN PASSWORD :'reader_password';
GRANT CONNECT ON DATABASE finops TO finops_reader;
GRANT USAGE ON SCHEMA marts TO finops_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA marts TO finops_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO finops_reader;
