-- Test helpers, vendored (written for this project, nothing fetched). This file runs first
-- (alphabetically) and commits the `tests` schema so the other files can use it; every other
-- file runs inside begin ... rollback.
set client_min_messages = warning;
create extension if not exists pgtap;

create schema if not exists tests;
grant usage on schema tests to anon, authenticated, service_role;

-- Creates a user in auth.users; identifier becomes <identifier>@test.local.
create or replace function tests.create_user(p_identifier text)
returns uuid
language sql
security definer
set search_path = ''
as $$
  insert into auth.users (id, email, raw_user_meta_data)
  values (gen_random_uuid(), p_identifier || '@test.local',
          jsonb_build_object('test_identifier', p_identifier))
  returning id
$$;

-- The id of a user made by create_user (definer: callers may not read auth.users).
create or replace function tests.uid(p_identifier text)
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
  select u.id from auth.users u where u.email = p_identifier || '@test.local'
$$;

-- Acts as the user from now on in this transaction: role authenticated + JWT claims, as
-- PostgREST / Storage would set them.
create or replace function tests.authenticate_as(p_identifier text)
returns void
language plpgsql
as $$
declare
  v_id uuid := tests.uid(p_identifier);
begin
  if v_id is null then
    raise exception 'tests.authenticate_as: no user %', p_identifier;
  end if;
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', jsonb_build_object(
    'sub', v_id, 'role', 'authenticated', 'email', p_identifier || '@test.local',
    'aud', 'authenticated')::text, true);
end
$$;

create or replace function tests.authenticate_as_anon()
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'anon', true);
  perform set_config('request.jwt.claims', '{"role":"anon"}', true);
end
$$;

create or replace function tests.authenticate_as_service_role()
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'service_role', true);
  perform set_config('request.jwt.claims', '{"role":"service_role"}', true);
end
$$;

-- Back to the session user (postgres) with no claims.
create or replace function tests.clear_authentication()
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;

-- Public tables (ordinary or partitioned) without RLS.
create or replace function tests.tables_without_rls(p_schema text)
returns setof text
language sql
stable
as $$
  select c.relname::text
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where n.nspname = p_schema and c.relkind in ('r', 'p') and not c.relrowsecurity
  order by 1
$$;

-- Marks a job as due and unleased "later": tests run in one transaction where now() is fixed,
-- so time is moved by moving the job's timestamps back instead.
create or replace function tests.expire_lease(p_job_id uuid)
returns void
language sql
security definer
set search_path = ''
as $$
  update public.jobs
  set lease_expires_at = now() - interval '1 second', run_at = now() - interval '1 second'
  where id = p_job_id and lease_token is not null
$$;

create or replace function tests.make_due(p_job_id uuid)
returns void
language sql
security definer
set search_path = ''
as $$
  update public.jobs set run_at = now() - interval '1 second' where id = p_job_id
$$;

-- Persona switching must work from any role; the data-changing helpers stay postgres-only.
revoke all on all functions in schema tests from public;
grant execute on function
  tests.uid(text), tests.authenticate_as(text), tests.authenticate_as_anon(),
  tests.authenticate_as_service_role(), tests.clear_authentication()
to anon, authenticated, service_role;

begin;
select plan(4);
select has_function('tests', 'create_user', array['text'], 'tests.create_user exists');
select has_function('tests', 'authenticate_as', array['text'], 'tests.authenticate_as exists');
select isnt(tests.create_user('helper_probe'), null, 'create_user returns an id');
select tests.authenticate_as('helper_probe');
select is(auth.uid(), tests.uid('helper_probe'), 'authenticate_as sets auth.uid()');
select * from finish();
rollback;
