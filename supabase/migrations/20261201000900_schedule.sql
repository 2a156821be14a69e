-- Baseline (9/9): schedules process-jobs. pg_cron calls the function through pg_net with a
-- credential from Vault: the project's secret key (`sb_secret_…`, sent as `apikey`, which is
-- what process-jobs checks first) or, for projects without one, a PROCESS_JOBS_SECRET:
--   select vault.create_secret('https://<ref>.supabase.co', 'project_url');
--   select vault.create_secret('sb_secret_…', 'secret_key');          -- or:
--   select vault.create_secret('<PROCESS_JOBS_SECRET>', 'process_jobs_secret');
-- On a plain Postgres without pg_cron / pg_net / Vault this migration only raises a notice.
-- Cron is the safety net; enqueueing functions also nudge process-jobs directly.

-- The call itself, in one place. plpgsql resolves net.* / vault.* at run time, so this can be
-- created everywhere; it returns null (with a notice) where the pieces are missing.
create or replace function bff.invoke_process_jobs()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_url text;
  v_key text;
  v_secret text;
  v_headers jsonb := jsonb_build_object('Content-Type', 'application/json');
  v_request_id bigint;
begin
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null
     or to_regclass('vault.decrypted_secrets') is null then
    raise notice 'invoke_process_jobs: pg_net or Vault missing; nothing sent';
    return null;
  end if;
  execute $q$select decrypted_secret from vault.decrypted_secrets where name = 'project_url'$q$
    into v_url;
  execute $q$select decrypted_secret from vault.decrypted_secrets where name = 'secret_key'$q$
    into v_key;
  execute $q$select decrypted_secret from vault.decrypted_secrets where name = 'process_jobs_secret'$q$
    into v_secret;
  if v_url is null or (v_key is null and v_secret is null) then
    raise notice 'invoke_process_jobs: Vault secrets project_url and secret_key (or process_jobs_secret) not set';
    return null;
  end if;
  if v_key is not null then
    v_headers := v_headers || jsonb_build_object('apikey', v_key);
  else
    v_headers := v_headers || jsonb_build_object('x-process-jobs-secret', v_secret);
  end if;
  -- Small body (pg_net hangs on big ones); explicit timeout (pg_net's default is 2 s).
  execute $q$
    select net.http_post(
      url := $1,
      body := jsonb_build_object('source', 'cron'),
      headers := $2,
      timeout_milliseconds := 10000
    )$q$
    into v_request_id
    using rtrim(v_url, '/') || '/functions/v1/process-jobs', v_headers;
  return v_request_id;
end
$$;
revoke all on function bff.invoke_process_jobs() from public, anon, authenticated;
grant execute on function bff.invoke_process_jobs() to service_role;
comment on function bff.invoke_process_jobs() is
  'POSTs to the process-jobs Edge Function via pg_net with the secret key (or process-jobs '
  'secret) from Vault; called by pg_cron.';

-- (Re)creates the cron job. Returns what it did; a separate function so it can be tested and
-- re-run by an operator after enabling the extensions.
create or replace function bff.schedule_process_jobs()
returns text
language plpgsql
security definer
set search_path = ''
as $$
begin
  if to_regclass('cron.job') is null
     or to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null
     or to_regclass('vault.decrypted_secrets') is null then
    return 'skipped: pg_cron, pg_net or Vault not available';
  end if;
  -- Re-running replaces the schedule (idempotent).
  execute $q$select cron.unschedule(jobid) from cron.job where jobname = 'process-jobs'$q$;
  begin
    -- Sub-minute schedules need pg_cron >= 1.5.
    execute $q$select cron.schedule('process-jobs', '5 seconds', 'select bff.invoke_process_jobs()')$q$;
    return 'scheduled every 5 seconds';
  exception when others then
    execute $q$select cron.schedule('process-jobs', '* * * * *', 'select bff.invoke_process_jobs()')$q$;
    return 'scheduled every minute (no sub-minute schedules: ' || sqlerrm || ')';
  end;
end
$$;
revoke all on function bff.schedule_process_jobs() from public, anon, authenticated;
comment on function bff.schedule_process_jobs() is
  'Schedules process-jobs with pg_cron (every 5 s, else every minute); skips without the extensions.';

do $$
begin
  -- Enable the extensions where the server offers them (hosted Supabase); ignore failures
  -- (e.g. pg_cron not in shared_preload_libraries).
  if exists (select 1 from pg_available_extensions where name = 'pg_net') then
    begin
      create extension if not exists pg_net with schema extensions;
    exception when others then
      raise notice 'pg_net unavailable: %', sqlerrm;
    end;
  end if;
  if exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    begin
      create extension if not exists pg_cron;
    exception when others then
      raise notice 'pg_cron unavailable: %', sqlerrm;
    end;
  end if;
  raise notice 'process-jobs schedule: %', bff.schedule_process_jobs();
end
$$;
