-- Scheduling: skips cleanly on plain Postgres; with pg_cron / pg_net / Vault present (stubbed
-- here with their real signatures) it schedules one idempotent job that posts with the secret
-- key (or the process-jobs secret) from Vault.
-- For databases without those extensions (local / CI), like every file here.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(14);

select is(bff.invoke_process_jobs(), null, 'invoke_process_jobs: sends nothing without pg_net');
select is(bff.schedule_process_jobs(), 'skipped: pg_cron, pg_net or Vault not available',
  'schedule_process_jobs: skips without the extensions');

-- Stubs with the real objects' names and signatures.
create schema if not exists cron;
create table if not exists cron.job (jobid bigserial primary key, jobname text unique, schedule text,
  command text);
create or replace function cron.schedule(job_name text, schedule text, command text)
returns bigint language plpgsql as $$
declare v bigint;
begin
  if schedule like '% seconds' and current_setting('t.old_cron', true) = 'on' then
    raise exception 'invalid schedule: %', schedule;
  end if;
  insert into cron.job (jobname, schedule, command) values (job_name, schedule, command)
  on conflict (jobname) do update set schedule = excluded.schedule, command = excluded.command
  returning jobid into v;
  return v;
end $$;
create or replace function cron.unschedule(job_id bigint) returns boolean
language sql as $$ delete from cron.job where jobid = job_id returning true $$;
create schema if not exists net;
create table net.calls (url text, body jsonb, headers jsonb, timeout_milliseconds int);
create or replace function net.http_post(url text, body jsonb default '{}', params jsonb default '{}',
  headers jsonb default '{}', timeout_milliseconds int default 2000)
returns bigint language sql as $$
  insert into net.calls values (url, body, headers, timeout_milliseconds) returning 42::bigint
$$;
create schema if not exists vault;
create table vault.secrets_stub (name text, decrypted_secret text);
create view vault.decrypted_secrets as select name, decrypted_secret from vault.secrets_stub;

select is(bff.invoke_process_jobs(), null, 'invoke_process_jobs: sends nothing without the Vault secrets');
select is((select count(*)::int from net.calls), 0, 'invoke_process_jobs: no request was queued');

insert into vault.secrets_stub values ('project_url', 'https://ref.supabase.co/'),
  ('process_jobs_secret', 's3cret');
select is(bff.invoke_process_jobs(), 42::bigint, 'invoke_process_jobs: posts through pg_net');
select results_eq(
  $$ select url, headers ->> 'apikey', headers ->> 'x-process-jobs-secret', timeout_milliseconds
     from net.calls $$,
  $$ values ('https://ref.supabase.co/functions/v1/process-jobs'::text, null::text,
             's3cret'::text, 10000) $$,
  'invoke_process_jobs: URL and the process-jobs secret from Vault, explicit timeout');
select ok((select pg_column_size(body) < 1024 from net.calls), 'invoke_process_jobs: small body');

-- With the project's secret key in Vault, that is what is sent (as apikey), and nothing else.
insert into vault.secrets_stub values ('secret_key', 'sb_secret_abc');
delete from net.calls;
select is(bff.invoke_process_jobs(), 42::bigint, 'invoke_process_jobs: posts with the secret key');
select results_eq(
  $$ select headers ->> 'apikey', headers ->> 'x-process-jobs-secret', headers ->> 'Authorization'
     from net.calls $$,
  $$ values ('sb_secret_abc'::text, null::text, null::text) $$,
  'invoke_process_jobs: the secret key goes in apikey, the older secret is not sent');

select is(bff.schedule_process_jobs(), 'scheduled every 5 seconds',
  'schedule_process_jobs: uses a sub-minute schedule where supported');
select results_eq($$ select jobname, schedule, command from cron.job $$,
  $$ values ('process-jobs'::text, '5 seconds'::text, 'select bff.invoke_process_jobs()'::text) $$,
  'schedule_process_jobs: one job calling bff.invoke_process_jobs()');
select bff.schedule_process_jobs();
select is((select count(*)::int from cron.job), 1, 'schedule_process_jobs: re-running keeps one job');

select set_config('t.old_cron', 'on', true);
select matches(bff.schedule_process_jobs(), '^scheduled every minute',
  'schedule_process_jobs: falls back to every minute on an old pg_cron');
select results_eq($$ select schedule from cron.job where jobname = 'process-jobs' $$,
  $$ values ('* * * * *'::text) $$, 'schedule_process_jobs: the fallback schedule is every minute');

select * from finish();
rollback;
