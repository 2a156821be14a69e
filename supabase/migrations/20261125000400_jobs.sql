-- The jobs state machine. Every change of public.jobs (and of the concept_images / models rows
-- a job owns) goes through these functions. All are SECURITY DEFINER with an empty search_path
-- and fully qualified names, executable only by service_role (and their owner, postgres).
--
-- Lease rule: a caller holds a job while its lease_token matches and the job is non-terminal.
-- A claim only takes jobs whose lease is null or expired, and it moves run_at to the lease
-- expiry, so "due" (run_at <= now()) and "not leased" coincide on the claim index.

-- Advisory lock keys (two-int form, class = hashtext of a fixed label).
-- enqueue: per user; claim: one global key for the Tripo concurrency cap.

-- helpers -----------------------------------------------------------------------------------

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

-- 1. enqueue ---------------------------------------------------------------------------------
-- Redefined in 20261125000800_cheaper_enqueue.sql (index-served idempotency lookup, bounded
-- counts).
create or replace function bff.enqueue_job(
  p_user_id uuid,
  p_kind text,
  p_provider text,
  p_client_task_id text,
  p_request jsonb,
  p_idempotency_key text,
  p_request_hash text,
  p_rate_bucket text,
  p_rate_limit int,
  p_max_active int,
  p_outputs int,
  p_rows jsonb,
  p_max_attempts int default 8,
  p_deadline_seconds int default 3600
)
returns table (outcome text, job_id uuid, retry_after_seconds int)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id uuid;
  v_hash text;
  v_count int;
  v_edge timestamptz;
  v_table text := coalesce(p_rows ->> 'table', case p_provider when 'openai' then 'concept_images' else 'models' end);
  v_task_id text := coalesce(p_rows ->> 'task_id', p_client_task_id);
begin
  if p_provider = 'openai' and v_table <> 'concept_images'
     or p_provider = 'tripo' and v_table <> 'models' then
    raise exception 'enqueue_job: provider % cannot write table %', p_provider, v_table
      using errcode = '22023';
  end if;
  if p_provider = 'openai' and (p_outputs is null or p_outputs < 1 or p_outputs > 10) then
    raise exception 'enqueue_job: p_outputs must be 1..10 for openai, got %', p_outputs
      using errcode = '22023';
  end if;

  -- One user's enqueues run one at a time, so the checks below cannot race each other.
  perform pg_advisory_xact_lock(hashtext('bff.enqueue_job'), hashtext(p_user_id::text));

  -- (a) idempotency. hdr: keys match any earlier job; other keys only a job that may still
  -- succeed, so a failed or cancelled request can be retried with the same body.
  select j.id, j.request_hash into v_id, v_hash
  from public.jobs j
  where j.user_id = p_user_id
    and j.kind = p_kind
    and j.idempotency_key = p_idempotency_key
    and (p_idempotency_key like 'hdr:%' or j.state not in ('failed', 'cancelled'))
  order by j.created_at desc
  limit 1;
  if found then
    if v_hash = p_request_hash then
      return query select 'existing'::text, v_id, null::int;
    else
      return query select 'conflict'::text, v_id, null::int;
    end if;
    return;
  end if;

  -- (b) rate limit: jobs of this bucket created in the last 60 s.
  if p_rate_limit is not null then
    select count(*) into v_count
    from public.jobs j
    where j.user_id = p_user_id and j.rate_bucket = p_rate_bucket
      and j.created_at > now() - interval '60 seconds';
    if v_count >= p_rate_limit then
      -- A slot frees when the job at position (count - limit) from the oldest leaves the window.
      select j.created_at into v_edge
      from public.jobs j
      where j.user_id = p_user_id and j.rate_bucket = p_rate_bucket
        and j.created_at > now() - interval '60 seconds'
      order by j.created_at
      offset greatest(v_count - greatest(p_rate_limit, 0), 0)
      limit 1;
      return query select
        'rate_limited'::text,
        null::uuid,
        greatest(1, ceil(extract(epoch from (coalesce(v_edge, now()) + interval '60 seconds' - now())))::int);
      return;
    end if;
  end if;

  -- (c) active cap.
  if p_max_active is not null then
    select count(*) into v_count
    from public.jobs j
    where j.user_id = p_user_id and j.state in ('queued', 'running');
    if v_count >= p_max_active then
      return query select 'too_many_active'::text, null::uuid, 30;
      return;
    end if;
  end if;

  -- (d) the job and its rows, in this same transaction.
  insert into public.jobs (
    user_id, kind, provider, client_task_id, request, idempotency_key, request_hash,
    rate_bucket, max_attempts, run_at, deadline_at
  ) values (
    p_user_id, p_kind, p_provider, p_client_task_id, p_request, p_idempotency_key,
    p_request_hash, p_rate_bucket, coalesce(p_max_attempts, 8), now(),
    now() + make_interval(secs => coalesce(p_deadline_seconds, 3600))
  )
  returning id into v_id;

  if p_provider = 'openai' then
    insert into public.concept_images (
      task_id, user_id, source_input_asset_id, prompt, style, status, job_id, image_index, metadata
    )
    select v_task_id, p_user_id, nullif(p_rows ->> 'source_input_asset_id', '')::uuid,
      p_rows ->> 'prompt', p_rows ->> 'style', 'pending', v_id, i, p_rows -> 'metadata'
    from generate_series(0, p_outputs - 1) as i;
  else
    insert into public.models (
      task_id, user_id, source_input_asset_id, source_concept_image_id, prompt, style, status,
      job_id, metadata
    ) values (
      v_task_id, p_user_id, nullif(p_rows ->> 'source_input_asset_id', '')::uuid,
      nullif(p_rows ->> 'source_concept_image_id', '')::uuid,
      p_rows ->> 'prompt', p_rows ->> 'style', 'pending', v_id, p_rows -> 'metadata'
    );
  end if;

  return query select 'created'::text, v_id, null::int;
end
$$;
comment on function bff.enqueue_job(uuid, text, text, text, jsonb, text, text, text, int, int, int, jsonb, int, int) is
  'Enqueues one AI job and its pending rows in one transaction. Outcomes: created, existing '
  '(same idempotency key and request), conflict (same key, other request), rate_limited, '
  'too_many_active (with retry_after_seconds).';

-- 2. claim ----------------------------------------------------------------------------------
-- Superseded by 20261125000600_faster_queue_paths.sql (set-based claim, batch completion,
-- record_submission with the first poll); kept as applied.
create or replace function bff.claim_jobs(p_limit int, p_lease_seconds int, p_tripo_cap int)
returns table (
  job_id uuid,
  lease_token uuid,
  user_id uuid,
  kind text,
  provider text,
  client_task_id text,
  request jsonb,
  provider_task_id text,
  submitted_at timestamptz,
  attempts int,
  progress int
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_expired uuid[];
  v_cand record;
  v_job public.jobs;
  v_claimed uuid[] := '{}';
  v_lease interval := make_interval(secs => greatest(coalesce(p_lease_seconds, 60), 1));
  v_cap_locked boolean := false;
  v_inflight int := 0;
  v_start uuid := gen_random_uuid();
  v_users int;
  v_skip_submit boolean;
begin
  if coalesce(p_limit, 0) < 1 then
    return;
  end if;
  -- Look at more users than slots, so users whose only due work is held back by the Tripo cap
  -- (or locked by another claimer) do not leave slots empty.
  v_users := p_limit * 2;

  -- Deadline sweep (bounded): jobs past their deadline end failed, rows too. SKIP LOCKED so a
  -- sweep never waits behind a job being completed right now.
  with doomed as (
    select j.id from public.jobs j
    where j.state in ('queued', 'running') and j.deadline_at < now()
    order by j.deadline_at
    limit 100
    for update skip locked
  ),
  upd as (
    update public.jobs j
    set state = 'failed', error_code = 'deadline_exceeded',
        error_message = 'The job did not finish in time.', finished_at = now(),
        lease_token = null, lease_expires_at = null
    from doomed
    where j.id = doomed.id
    returning j.id
  )
  select array_agg(upd.id) into v_expired from upd;
  if v_expired is not null then
    update public.concept_images c set status = 'failed', error = 'The job did not finish in time.'
    where c.job_id = any (v_expired) and c.status <> 'complete';
    update public.models m set status = 'failed', error = 'The job did not finish in time.'
    where m.job_id = any (v_expired) and m.status <> 'complete';
  end if;

  -- Unlocked estimate: when the Tripo cap is already full, jobs needing submission are not even
  -- candidates (the exact check happens under the advisory lock below).
  select count(*) >= coalesce(p_tripo_cap, 0) into v_skip_submit
  from public.jobs j
  where j.provider = 'tripo' and j.state in ('queued', 'running')
    and (j.submitted_at is not null or j.provider_task_id is not null
         or (j.lease_token is not null and j.lease_expires_at > now()));

  -- Candidates, fair across users: skip-scan the distinct users with due jobs (starting at a
  -- random point of the uuid space and wrapping, so no user is always last), take each user's
  -- oldest due jobs, and interleave them round-robin (every user's 1st job, then 2nd, ...).
  for v_cand in
    with recursive
    fwd as (
      (select j.user_id as uid, 1 as n from public.jobs j
       where j.state in ('queued', 'running') and j.run_at <= now() and j.user_id >= v_start
         and (not v_skip_submit or j.provider <> 'tripo'
              or j.provider_task_id is not null or j.submitted_at is not null)
       order by j.user_id limit 1)
      union all
      select (select j.user_id from public.jobs j
              where j.state in ('queued', 'running') and j.run_at <= now() and j.user_id > f.uid
                and (not v_skip_submit or j.provider <> 'tripo'
                     or j.provider_task_id is not null or j.submitted_at is not null)
              order by j.user_id limit 1), f.n + 1
      from fwd f where f.uid is not null and f.n < v_users
    ),
    wrap as (
      (select j.user_id as uid, 1 as n from public.jobs j
       where j.state in ('queued', 'running') and j.run_at <= now() and j.user_id < v_start
         and (not v_skip_submit or j.provider <> 'tripo'
              or j.provider_task_id is not null or j.submitted_at is not null)
       order by j.user_id limit 1)
      union all
      select (select j.user_id from public.jobs j
              where j.state in ('queued', 'running') and j.run_at <= now() and j.user_id > w.uid
                and j.user_id < v_start
                and (not v_skip_submit or j.provider <> 'tripo'
                     or j.provider_task_id is not null or j.submitted_at is not null)
              order by j.user_id limit 1), w.n + 1
      from wrap w where w.uid is not null and w.n < v_users
    ),
    users as (
      select uid, n as pos from fwd where uid is not null
      union all
      select uid, n + v_users as pos from wrap where uid is not null
      order by pos
      limit v_users
    ),
    ranked as (
      select c.id, c.provider, c.provider_task_id, c.submitted_at, u.pos, c.rn
      from users u
      cross join lateral (
        select j.id, j.provider, j.provider_task_id, j.submitted_at,
               row_number() over (order by j.run_at) as rn
        from public.jobs j
        where j.user_id = u.uid and j.state in ('queued', 'running') and j.run_at <= now()
          and (not v_skip_submit or j.provider <> 'tripo'
               or j.provider_task_id is not null or j.submitted_at is not null)
        order by j.run_at
        -- Slack for rows skipped (locked elsewhere, or held back by the Tripo cap).
        limit p_limit * 2
      ) c
    )
    select r.id,
           (r.provider = 'tripo' and r.provider_task_id is null and r.submitted_at is null)
             as needs_submit
    from ranked r
    order by r.rn, r.pos
    limit p_limit * 4
  loop
    exit when coalesce(array_length(v_claimed, 1), 0) >= p_limit;

    if v_cand.needs_submit then
      if not v_cap_locked then
        -- Serialize the cap check across claimers; held to commit, so the next claimer's count
        -- sees our leases. Non-Tripo claims above never wait on this.
        perform pg_advisory_xact_lock(hashtext('bff.claim_jobs.tripo_cap'));
        v_cap_locked := true;
        select count(*) into v_inflight
        from public.jobs j
        where j.provider = 'tripo' and j.state in ('queued', 'running')
          and (j.submitted_at is not null or j.provider_task_id is not null
               or (j.lease_token is not null and j.lease_expires_at > now()));
      end if;
      continue when v_inflight >= coalesce(p_tripo_cap, 0);
    end if;

    -- Re-check under the row lock with a fresh snapshot: another claimer may have won it.
    select j.* into v_job
    from public.jobs j
    where j.id = v_cand.id
      and j.state in ('queued', 'running')
      and j.run_at <= now()
      and (j.lease_token is null or j.lease_expires_at <= now())
      and j.deadline_at >= now()
    for update skip locked;
    continue when not found;
    -- The row may have changed since the candidate scan (e.g. submitted meanwhile).
    if v_job.provider = 'tripo' and v_job.provider_task_id is null and v_job.submitted_at is null
       and not v_cand.needs_submit then
      continue;
    end if;

    update public.jobs j
    set state = 'running',
        lease_token = gen_random_uuid(),
        lease_expires_at = now() + v_lease,
        run_at = now() + v_lease
    where j.id = v_job.id
    returning j.* into v_job;

    if v_cand.needs_submit then
      v_inflight := v_inflight + 1;
    end if;
    v_claimed := v_claimed || v_job.id;

    job_id := v_job.id;
    lease_token := v_job.lease_token;
    user_id := v_job.user_id;
    kind := v_job.kind;
    provider := v_job.provider;
    client_task_id := v_job.client_task_id;
    request := v_job.request;
    provider_task_id := v_job.provider_task_id;
    submitted_at := v_job.submitted_at;
    attempts := v_job.attempts;
    progress := v_job.progress;
    return next;
  end loop;

  if array_length(v_claimed, 1) > 0 then
    update public.concept_images c set status = 'processing'
    where c.job_id = any (v_claimed) and c.status = 'pending';
    update public.models m set status = 'processing'
    where m.job_id = any (v_claimed) and m.status = 'pending';
  end if;
end
$$;
comment on function bff.claim_jobs(int, int, int) is
  'Fails jobs past their deadline, then leases up to p_limit due jobs (FOR UPDATE SKIP LOCKED), '
  'fair across users, keeping Tripo tasks in flight below p_tripo_cap.';

-- 3. heartbeat ------------------------------------------------------------------------------
create or replace function bff.heartbeat(p_job_id uuid, p_lease_token uuid, p_lease_seconds int)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.jobs j
  set lease_expires_at = now() + make_interval(secs => greatest(coalesce(p_lease_seconds, 60), 1)),
      run_at = now() + make_interval(secs => greatest(coalesce(p_lease_seconds, 60), 1))
  where j.id = p_job_id and j.lease_token = p_lease_token and j.state in ('queued', 'running');
  return found;
end
$$;
comment on function bff.heartbeat(uuid, uuid, int) is
  'Extends a held lease by p_lease_seconds. False if the token does not hold the job.';

-- 4. begin_submit ---------------------------------------------------------------------------
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

-- 5. record_submission ----------------------------------------------------------------------
-- Superseded by 20261125000600_faster_queue_paths.sql (set-based claim, batch completion,
-- record_submission with the first poll); kept as applied.
create or replace function bff.record_submission(
  p_job_id uuid, p_lease_token uuid, p_provider_task_id text
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.jobs j
  set provider_task_id = p_provider_task_id,
      submitted_at = coalesce(j.submitted_at, now())
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
comment on function bff.record_submission(uuid, uuid, text) is
  'Stores the provider task id the moment it is known; rows get ai_service_task_id.';

-- 6. record_progress ------------------------------------------------------------------------
create or replace function bff.record_progress(
  p_job_id uuid, p_lease_token uuid, p_progress int, p_next_run_seconds numeric
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
comment on function bff.record_progress(uuid, uuid, int, numeric) is
  'Stores progress (never decreasing), releases the lease and schedules the next poll.';

-- 7. complete_job ---------------------------------------------------------------------------
-- Superseded by 20261125000600_faster_queue_paths.sql (set-based claim, batch completion,
-- record_submission with the first poll); kept as applied.
create or replace function bff.complete_job(p_job_id uuid, p_lease_token uuid, p_outputs jsonb)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_outputs jsonb := coalesce(p_outputs, '[]'::jsonb);
begin
  if jsonb_typeof(v_outputs) <> 'array' then
    raise exception 'complete_job: p_outputs must be a json array' using errcode = '22023';
  end if;
  update public.jobs j
  set state = 'succeeded', progress = 100, result = jsonb_build_object('outputs', v_outputs),
      finished_at = now(), lease_token = null, lease_expires_at = null,
      error_code = null, error_message = null
  where j.id = p_job_id and j.lease_token = p_lease_token and j.state in ('queued', 'running');
  if not found then
    return false;
  end if;

  update public.concept_images c
  set status = 'complete', storage_bucket = o.value ->> 'bucket',
      storage_path = o.value ->> 'path', asset_url = o.value ->> 'url', error = null
  from jsonb_array_elements(v_outputs) with ordinality as o(value, ord)
  where c.job_id = p_job_id and c.image_index = o.ord - 1;
  -- Images the provider did not return (fewer outputs than requested) end failed, not pending.
  update public.concept_images c
  set status = 'failed', error = 'The provider returned fewer images than requested.'
  where c.job_id = p_job_id and c.status <> 'complete';

  update public.models m
  set status = 'complete', storage_bucket = v_outputs -> 0 ->> 'bucket',
      storage_path = v_outputs -> 0 ->> 'path', asset_url = v_outputs -> 0 ->> 'url',
      progress = 100, error = null
  where m.job_id = p_job_id;
  return true;
end
$$;
comment on function bff.complete_job(uuid, uuid, jsonb) is
  'Finishes a job: p_outputs is [{bucket, path, url}] in output order; rows get their permanent '
  'storage location.';

-- 8. fail_job -------------------------------------------------------------------------------
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

-- 9. retry_job ------------------------------------------------------------------------------
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

-- 10. cancel_job ----------------------------------------------------------------------------
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

-- 11. job_status ----------------------------------------------------------------------------
create or replace function bff.job_status(p_job_id uuid, p_user_id uuid)
returns table (
  job_id uuid,
  client_task_id text,
  provider text,
  kind text,
  status text,
  progress int,
  error_code text,
  error_message text,
  outputs jsonb
)
language sql
stable
security definer
set search_path = ''
as $$
  select j.id, j.client_task_id, j.provider, j.kind,
    case j.state
      when 'queued' then 'pending'
      when 'running' then 'processing'
      when 'succeeded' then 'complete'
      else 'failed'
    end,
    j.progress, j.error_code, j.error_message,
    coalesce(j.result -> 'outputs', '[]'::jsonb)
  from public.jobs j
  where j.id = p_job_id and j.user_id = p_user_id
$$;
comment on function bff.job_status(uuid, uuid) is
  'Status of the caller''s own job (no row for unknown or other users'' jobs).';

-- 12. find_refine_draft ---------------------------------------------------------------------
create or replace function bff.find_refine_draft(p_user_id uuid, p_bucket text, p_path text)
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select m.ai_service_task_id
  from public.models m
  where m.user_id = p_user_id and m.storage_bucket = p_bucket and m.storage_path = p_path
    and m.status = 'complete' and m.ai_service_task_id is not null
  order by m.created_at desc
  limit 1
$$;
comment on function bff.find_refine_draft(uuid, text, text) is
  'Provider task id of the caller''s own complete model stored at bucket/path, or null.';

-- 13. prune_finished ------------------------------------------------------------------------
create or replace function bff.prune_finished(
  p_older_than interval default '30 days', p_limit int default 10000
)
returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count int;
begin
  with old as (
    select j.id from public.jobs j
    where j.state in ('succeeded', 'failed', 'cancelled')
      and j.finished_at < now() - p_older_than
    order by j.finished_at
    limit p_limit
    for update skip locked
  )
  delete from public.jobs j using old where j.id = old.id;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;
comment on function bff.prune_finished(interval, int) is
  'Retention: deletes up to p_limit terminal jobs finished before now() - p_older_than '
  '(their rows keep living with job_id null).';

-- 14. operator views ------------------------------------------------------------------------
create or replace view bff.queue_overview as
select j.state, j.provider, count(*)::bigint as jobs,
  extract(epoch from now() - min(j.run_at) filter (
    where j.state in ('queued', 'running') and j.run_at <= now() and j.lease_token is null
  ))::int as oldest_waiting_seconds
from public.jobs j
group by j.state, j.provider;
comment on view bff.queue_overview is
  'Operators: jobs by state and provider, and how long the oldest due unleased job has waited.';

create or replace view bff.failures_by_code as
select j.provider, j.error_code, count(*)::bigint as jobs, max(j.finished_at) as last_seen
from public.jobs j
where j.state in ('failed', 'cancelled') and j.finished_at > now() - interval '24 hours'
group by j.provider, j.error_code;
comment on view bff.failures_by_code is 'Operators: failed / cancelled jobs by error code, last 24 h.';

revoke all on bff.queue_overview, bff.failures_by_code from public, anon, authenticated;
grant select on bff.queue_overview, bff.failures_by_code to service_role;

-- grants ------------------------------------------------------------------------------------
revoke all on function
  bff.fail_job_rows(uuid, text),
  bff.enqueue_job(uuid, text, text, text, jsonb, text, text, text, int, int, int, jsonb, int, int),
  bff.claim_jobs(int, int, int),
  bff.heartbeat(uuid, uuid, int),
  bff.begin_submit(uuid, uuid),
  bff.record_submission(uuid, uuid, text),
  bff.record_progress(uuid, uuid, int, numeric),
  bff.complete_job(uuid, uuid, jsonb),
  bff.fail_job(uuid, uuid, text, text),
  bff.retry_job(uuid, uuid, text, text, numeric, boolean),
  bff.cancel_job(uuid, uuid),
  bff.job_status(uuid, uuid),
  bff.find_refine_draft(uuid, text, text),
  bff.prune_finished(interval, int)
from public, anon, authenticated;

grant execute on function
  bff.enqueue_job(uuid, text, text, text, jsonb, text, text, text, int, int, int, jsonb, int, int),
  bff.claim_jobs(int, int, int),
  bff.heartbeat(uuid, uuid, int),
  bff.begin_submit(uuid, uuid),
  bff.record_submission(uuid, uuid, text),
  bff.record_progress(uuid, uuid, int, numeric),
  bff.complete_job(uuid, uuid, jsonb),
  bff.fail_job(uuid, uuid, text, text),
  bff.retry_job(uuid, uuid, text, text, numeric, boolean),
  bff.cancel_job(uuid, uuid),
  bff.job_status(uuid, uuid),
  bff.find_refine_draft(uuid, text, text),
  bff.prune_finished(interval, int)
to service_role;
