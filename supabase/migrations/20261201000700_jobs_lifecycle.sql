-- Baseline (7/9): the lifecycle of a claimed job. Every change of public.jobs (and of the
-- concept_images / models rows a job owns) after the claim goes through these functions, each
-- fenced by the lease token, so an invocation that lost its lease cannot overwrite the one that
-- took over. A paid submission is recorded before it is made (begin_submit) and its provider id
-- the moment it is known (record_submission): a crash between the two can never be replayed.

-- Marks a job's rows failed with a user-safe message.
create or replace function bff.fail_job_rows(p_job_id uuid, p_message text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.concept_images set status = 'failed', error = p_message
  where job_id = p_job_id and status <> 'complete';
  update public.models set status = 'failed', error = p_message
  where job_id = p_job_id and status <> 'complete';
end
$$;
comment on function bff.fail_job_rows(uuid, text) is
  'Internal: marks the concept_images / models rows of a job failed with a user-safe message.';

revoke all on function bff.fail_job_rows(uuid, text) from public, anon, authenticated;

create or replace function bff.begin_submit(p_job_id uuid, p_lease_token uuid)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  select * into v_job from public.jobs j where j.id = p_job_id for update;
  if not found or v_job.lease_token is distinct from p_lease_token
     or v_job.state not in ('queued', 'running') then
    return 'lease_lost';
  end if;
  if v_job.provider_task_id is not null then
    return 'submitted';
  end if;
  if v_job.submitted_at is not null then
    return 'ambiguous';
  end if;
  update public.jobs j set submitted_at = now() where j.id = p_job_id;
  return 'ok';
end
$$;
comment on function bff.begin_submit(uuid, uuid) is
  'Records the intent to make the paid provider call. ok | submitted (task id known) | '
  'ambiguous (an earlier call may have landed) | lease_lost.';

revoke all on function bff.begin_submit(uuid, uuid) from public, anon, authenticated;
grant execute on function bff.begin_submit(uuid, uuid) to service_role;

create or replace function bff.record_submission(
  p_job_id uuid, p_lease_token uuid, p_provider_task_id text, p_next_run_seconds numeric default null
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.jobs j
  set provider_task_id = p_provider_task_id,
      submitted_at = coalesce(j.submitted_at, now()),
      -- With a next run given, the lease is released and the first poll scheduled.
      lease_token = case when p_next_run_seconds is null then j.lease_token end,
      lease_expires_at = case when p_next_run_seconds is null then j.lease_expires_at end,
      run_at = case when p_next_run_seconds is null then j.run_at
                    else now() + make_interval(secs => greatest(p_next_run_seconds, 0)) end
  where j.id = p_job_id and j.lease_token = p_lease_token and j.state in ('queued', 'running');
  if not found then
    return false;
  end if;
  update public.concept_images c set ai_service_task_id = p_provider_task_id, status = 'processing'
  where c.job_id = p_job_id and c.status in ('pending', 'processing');
  update public.models m set ai_service_task_id = p_provider_task_id, status = 'processing'
  where m.job_id = p_job_id and m.status in ('pending', 'processing');
  return true;
end
$$;
comment on function bff.record_submission(uuid, uuid, text, numeric) is
  'Stores the provider task id the moment it is known; rows get ai_service_task_id. With '
  'p_next_run_seconds, also releases the lease and schedules the first poll.';
revoke all on function bff.record_submission(uuid, uuid, text, numeric) from public, anon, authenticated;
grant execute on function bff.record_submission(uuid, uuid, text, numeric) to service_role;

create or replace function bff.record_progress(
  p_job_id uuid, p_lease_token uuid, p_progress int, p_next_run_seconds numeric,
  p_eta_seconds int default null
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_progress int := least(greatest(coalesce(p_progress, 0), 0), 100);
begin
  update public.jobs j
  set progress = greatest(j.progress, v_progress),
      eta_seconds = greatest(p_eta_seconds, 0),
      lease_token = null,
      lease_expires_at = null,
      run_at = now() + make_interval(secs => greatest(coalesce(p_next_run_seconds, 0), 0)::double precision)
  where j.id = p_job_id and j.lease_token = p_lease_token and j.state in ('queued', 'running');
  if not found then
    return false;
  end if;
  update public.models m set progress = greatest(m.progress, v_progress)
  where m.job_id = p_job_id and m.status in ('pending', 'processing');
  return true;
end
$$;
comment on function bff.record_progress(uuid, uuid, int, numeric, int) is
  'Stores progress (never decreasing) and the provider''s ETA, releases the lease and schedules '
  'the next poll.';

revoke all on function bff.record_progress(uuid, uuid, int, numeric, int)
  from public, anon, authenticated;
grant execute on function bff.record_progress(uuid, uuid, int, numeric, int) to service_role;

create or replace function bff.complete_jobs(p_jobs jsonb)
returns table (job_id uuid, ok boolean)
language sql
security definer
set search_path = ''
as $$
  with input as (
    select (e ->> 'job_id')::uuid as id, (e ->> 'lease_token')::uuid as tok,
           case when jsonb_typeof(e -> 'outputs') = 'array' then e -> 'outputs'
                else '[]'::jsonb end as outputs
    from jsonb_array_elements(p_jobs) e
  ),
  done as (
    update public.jobs j
    set state = 'succeeded', progress = 100, result = jsonb_build_object('outputs', i.outputs),
        eta_seconds = null,
        finished_at = now(), updated_at = now(), lease_token = null, lease_expires_at = null,
        error_code = null, error_message = null
    from input i
    where j.id = i.id and j.lease_token = i.tok and j.state in ('queued', 'running')
    returning j.id, i.outputs
  ),
  -- Each concept image takes the output at its image_index; images the provider did not return
  -- (fewer outputs than requested) end failed, not pending.
  images as (
    update public.concept_images c
    set status = case when d.outputs -> c.image_index is null then 'failed' else 'complete' end,
        storage_bucket = d.outputs -> c.image_index ->> 'bucket',
        storage_path = d.outputs -> c.image_index ->> 'path',
        asset_url = d.outputs -> c.image_index ->> 'url',
        error = case when d.outputs -> c.image_index is null
                     then 'The provider returned fewer images than requested.' end
    from done d
    where c.job_id = d.id
    returning c.id
  ),
  models as (
    update public.models m
    set status = 'complete', storage_bucket = d.outputs -> 0 ->> 'bucket',
        storage_path = d.outputs -> 0 ->> 'path', asset_url = d.outputs -> 0 ->> 'url',
        progress = 100, error = null
    from done d
    where m.job_id = d.id
    returning m.id
  )
  -- Data-modifying CTEs run to completion whether or not the final select reads them.
  select i.id, d.id is not null
  from input i
  left join done d on d.id = i.id
$$;

comment on function bff.complete_jobs(jsonb) is
  'Finishes a batch: p_jobs is [{job_id, lease_token, outputs: [{bucket, path, url}]}]; a job '
  'completes only if the token still holds it (ok = false otherwise). Rows get their permanent '
  'storage location.';

revoke all on function bff.complete_jobs(jsonb) from public, anon, authenticated;
grant execute on function bff.complete_jobs(jsonb) to service_role;

create or replace function bff.complete_job(p_job_id uuid, p_lease_token uuid, p_outputs jsonb)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_ok boolean;
begin
  if jsonb_typeof(coalesce(p_outputs, '[]'::jsonb)) <> 'array' then
    raise exception 'complete_job: p_outputs must be a json array' using errcode = '22023';
  end if;
  select c.ok into v_ok
  from bff.complete_jobs(jsonb_build_array(jsonb_build_object(
    'job_id', p_job_id, 'lease_token', p_lease_token,
    'outputs', coalesce(p_outputs, '[]'::jsonb)))) c;
  return coalesce(v_ok, false);
end
$$;

comment on function bff.complete_job(uuid, uuid, jsonb) is
  'One job through bff.complete_jobs (for callers and tests that complete a single job).';

revoke all on function bff.complete_job(uuid, uuid, jsonb) from public, anon, authenticated;
grant execute on function bff.complete_job(uuid, uuid, jsonb) to service_role;

create or replace function bff.fail_job(
  p_job_id uuid, p_lease_token uuid, p_code text, p_message text
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.jobs j
  set state = 'failed', error_code = p_code, error_message = p_message, finished_at = now(),
      lease_token = null, lease_expires_at = null
  where j.id = p_job_id and j.lease_token = p_lease_token and j.state in ('queued', 'running');
  if not found then
    return false;
  end if;
  perform bff.fail_job_rows(p_job_id, p_message);
  return true;
end
$$;
comment on function bff.fail_job(uuid, uuid, text, text) is
  'Permanent failure: the job and its rows end failed with a user-safe message.';

revoke all on function bff.fail_job(uuid, uuid, text, text) from public, anon, authenticated;
grant execute on function bff.fail_job(uuid, uuid, text, text) to service_role;

create or replace function bff.retry_job(
  p_job_id uuid,
  p_lease_token uuid,
  p_code text,
  p_message text,
  p_retry_after_seconds numeric default null,
  p_clear_submit boolean default false
)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job public.jobs;
  v_backoff double precision;
  v_delay double precision;
begin
  select * into v_job from public.jobs j where j.id = p_job_id for update;
  if not found or v_job.lease_token is distinct from p_lease_token
     or v_job.state not in ('queued', 'running') then
    return 'lease_lost';
  end if;

  if v_job.attempts + 1 >= v_job.max_attempts then
    update public.jobs j
    set attempts = j.attempts + 1, state = 'failed', error_code = p_code,
        error_message = p_message, finished_at = now(), lease_token = null,
        lease_expires_at = null
    where j.id = p_job_id;
    perform bff.fail_job_rows(p_job_id, p_message);
    return 'failed';
  end if;

  -- Capped exponential backoff (2 s * 2^(n-1), cap 300 s) with equal jitter.
  v_backoff := least(300, 2 * power(2, v_job.attempts));
  v_delay := greatest(
    coalesce(p_retry_after_seconds, 0)::double precision,
    v_backoff / 2 + random() * v_backoff / 2
  );

  update public.jobs j
  set attempts = j.attempts + 1,
      run_at = now() + make_interval(secs => v_delay),
      lease_token = null,
      lease_expires_at = null,
      error_code = p_code,
      error_message = p_message,
      submitted_at = case when p_clear_submit then null else j.submitted_at end,
      -- Back to queued only if nothing may be in flight at the provider.
      state = case
        when j.provider_task_id is null and (p_clear_submit or j.submitted_at is null)
          then 'queued' else 'running' end
  where j.id = p_job_id;
  return 'retrying';
end
$$;
comment on function bff.retry_job(uuid, uuid, text, text, numeric, boolean) is
  'Transient failure: attempts+1 and a later run_at (jittered backoff, at least Retry-After); '
  'failed once attempts reach max_attempts. retrying | failed | lease_lost.';

revoke all on function bff.retry_job(uuid, uuid, text, text, numeric, boolean) from public, anon, authenticated;
grant execute on function bff.retry_job(uuid, uuid, text, text, numeric, boolean) to service_role;

create or replace function bff.cancel_job(p_job_id uuid, p_user_id uuid)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  select * into v_job from public.jobs j where j.id = p_job_id for update;
  if not found or v_job.user_id is distinct from p_user_id then
    return 'not_found';
  end if;
  if v_job.state not in ('queued', 'running') then
    return 'already_finished';
  end if;
  update public.jobs j
  set state = 'cancelled', error_code = 'cancelled', error_message = 'Cancelled by the user.',
      finished_at = now(), lease_token = null, lease_expires_at = null
  where j.id = p_job_id;
  perform bff.fail_job_rows(p_job_id, 'Cancelled by the user.');
  return 'cancelled';
end
$$;
comment on function bff.cancel_job(uuid, uuid) is
  'Cancels the caller''s own non-terminal job. not_found | already_finished | cancelled.';

revoke all on function bff.cancel_job(uuid, uuid) from public, anon, authenticated;
grant execute on function bff.cancel_job(uuid, uuid) to service_role;
