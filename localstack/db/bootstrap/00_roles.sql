-- What Supabase's Postgres image provides before any project migration runs, in the files of
-- this folder applied in name order as one script (localstack/db/prepare.ts): roles, grants and
-- the `extensions` schema here; then the `auth`, `storage` and `realtime` schemas with the helpers
-- policies use, each beside the stand-in's own helpers for that service (`storage_standin`,
-- `realtime_standin`: localstack only, not Supabase's).
-- Local stand-in only (never part of supabase/migrations). Idempotent: safe to apply twice.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;

create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
create extension if not exists pgcrypto with schema extensions;

-- Supabase grants every API role full table privileges in `public` by default, so RLS is what
-- protects rows. The stand-in does the same, so a table without RLS is as exposed as in prod.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
