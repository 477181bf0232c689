-- Roles of the Tenantry database. The postgres image runs this once, as the superuser,
-- against POSTGRES_DB, when the data volume is first initialised (psql 15+ for \getenv).
--
--   tenantry_owner  owns the database and the public schema; migrations run as it
--                   (TENANTRY_MIGRATE_DATABASE_URL). Tables it creates are FORCEd under
--                   row-level security, so even it obeys the tenant policies.
--   tenantry_app    what the web, worker and cron processes log in as (DATABASE_URL).
--                   It owns nothing and cannot bypass row-level security; each migration
--                   grants it data privileges on the tables it creates.
--
-- Passwords come from the container's environment, never from this file.

\set ON_ERROR_STOP on
\getenv owner_password TENANTRY_OWNER_DB_PASSWORD
\getenv app_password TENANTRY_APP_DB_PASSWORD
\getenv dbname POSTGRES_DB

CREATE ROLE tenantry_owner LOGIN PASSWORD :'owner_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE ROLE tenantry_app LOGIN PASSWORD :'app_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;

ALTER DATABASE :"dbname" OWNER TO tenantry_owner;
ALTER SCHEMA public OWNER TO tenantry_owner;

-- Nobody but the two roles connects; only the owner creates objects.
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"dbname" TO tenantry_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tenantry_app;
