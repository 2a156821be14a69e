-- Faster queue paths, measured by `npm run bench` (BENCHMARKS.md):
-- * claim_jobs becomes set-based: one UPDATE … FOR UPDATE SKIP LOCKED over the fair candidate
--   list instead of two statements per row; the deadline sweep runs only when something is
--   overdue; the Tripo in-flight count reads only the in-flight rows (two index range scans).
-- * complete_jobs finishes a batch of jobs in one statement set; complete_job is now a call of it.
-- * inserting jobs NOTIFYs `bff_jobs`, so a listening process-jobs loop starts them at once.
-- * record_submission can also schedule the first poll and release the lease (one round trip
--   instead of two per submission).

-- New jobs wake a listening process-jobs loop at once (NOTIFY is sent at commit; one per
-- inserting statement, with no payload: the loop claims whatever is due).
create or replace function bff.notify_new_jobs()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pg_notify('bff_jobs', '');
  return null;
end
$$;
comment on function bff.notify_new_jobs() is
  'Statement trigger on public.jobs inserts: NOTIFY bff_jobs so a listening process-jobs loop '
  'claims the new jobs at once.';
revoke all on function bff.notify_new_jobs() from public, anon, authenticated;
drop trigger if exists jobs_notify_new on public.jobs;
create trigger jobs_notify_new after insert on public.jobs
  for each statement execute function bff.notify_new_jobs();

-- Due jobs in run_at order, to top up a claim when the fair per-user share leaves slots empty.
create index if not exists jobs_due_idx on public.jobs (run_at)
  where state in ('queued', 'running');

-- Tripo jobs leased for submission (not yet submitted): few, found by lease expiry.
create index if not exists jobs_tripo_leased_idx on public.jobs (lease_expires_at)
  where provider = 'tripo' and state in ('queued', 'running') and submitted_at is null;

create or replace function bff.tripo_in_flight()
returns int
language sql
stable
security definer
set search_path = ''
as $$
  select (
    (select count(*) from public.jobs j
     where j.provider = 'tripo' and j.state in ('queued', 'running')
       and j.submitted_at is not null)
    + (select count(*) from public.jobs j
       where j.provider = 'tripo' and j.state in ('queued', 'running')
         and j.submitted_at is null and j.lease_expires_at > now())
  )::int
$$;
comment on function bff.tripo_in_flight() is
  'Tripo tasks that count against TRIPO_MAX_CONCURRENCY: submitted (or being submitted) and not '
  'finished, plus jobs leased for submission.';
revoke all on function bff.tripo_in_flight() from public, anon, authenticated;
grant execute on function bff.tripo_in_flight() to service_role;

-- Superseded by 20261125000700_cheaper_fair_claim.sql (cheaper fair share, top-up).
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
  v_lease interval := make_interval(secs => greatest(coalesce(p_lease_seconds, 60), 1));
  v_start uuid := gen_random_uuid();
  v_cap int := coalesce(p_tripo_cap, 0);
  v_skip_submit boolean;
  -- Look at more users than slots, so users whose only due work is held back by the Tripo cap
  -- (or locked by another claimer) do not leave slots empty.
  v_users int := p_limit * 2;
  v_plain uuid[];
  v_submit uuid[];
  v_slots int := 0;
  v_claimed uuid[];
begin
  if coalesce(p_limit, 0) < 1 then
    return;
  end if;

  -- Deadline sweep: only when something is overdue (a probe of the partial deadline index), and
  -- by one claimer at a time; SKIP LOCKED so it never waits behind a job being completed.
  if exists (
       select 1 from public.jobs j
       where j.state in ('queued', 'running') and j.deadline_at < now())
     and pg_try_advisory_xact_lock(hashtext('bff.claim_jobs.deadline_sweep')) then
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
  end if;

  -- Unlocked estimate: with the Tripo cap full, jobs needing submission are not candidates at
  -- all (the exact count is taken under the cap lock below). Both counts are index range scans
  -- over the few in-flight rows, however many jobs wait.
  v_skip_submit := bff.tripo_in_flight() >= v_cap;

  -- Candidates, fair across users: skip-scan the distinct users with due jobs (from a random
  -- point of the uuid space, wrapping, so no user is always last), take each user's oldest due
  -- jobs (a fair share plus slack for rows locked elsewhere), interleave them round-robin.
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
  users as materialized (
    select uid, n as pos from fwd where uid is not null
    union all
    select uid, n + v_users as pos from wrap where uid is not null
    order by pos
    limit v_users
  ),
  share as (
    select (p_limit + count(*) - 1) / greatest(count(*), 1) + 2 as per_user from users
  ),
  ranked as (
    select c.id, u.pos, c.rn,
           (c.provider = 'tripo' and c.provider_task_id is null and c.submitted_at is null)
             as needs_submit
    from users u
    cross join share s
    cross join lateral (
      select j.id, j.provider, j.provider_task_id, j.submitted_at,
             row_number() over (order by j.run_at) as rn
      from public.jobs j
      where j.user_id = u.uid and j.state in ('queued', 'running') and j.run_at <= now()
        and (not v_skip_submit or j.provider <> 'tripo'
             or j.provider_task_id is not null or j.submitted_at is not null)
      order by j.run_at
      limit s.per_user
    ) c
  ),
  fair as (
    select r.id, r.needs_submit, row_number() over (order by r.rn, r.pos) as ord from ranked r
  ),
  -- Top-up in plain due order, after every fair candidate: when a few users hold most of the
  -- due work, their jobs beyond the fair share still fill the remaining slots.
  fill as (
    select d.id, d.needs_submit, 1000000 + row_number() over (order by d.run_at) as ord
    from (
      select j.id, j.run_at,
             (j.provider = 'tripo' and j.provider_task_id is null and j.submitted_at is null)
               as needs_submit
      from public.jobs j
      where j.state in ('queued', 'running') and j.run_at <= now()
        and (not v_skip_submit or j.provider <> 'tripo'
             or j.provider_task_id is not null or j.submitted_at is not null)
      order by j.run_at
      limit p_limit
    ) d
  ),
  cands as (
    select distinct on (x.id) x.id, x.needs_submit, x.ord
    from (select * from fair union all select * from fill) x
    order by x.id, x.ord
  )
  select array_agg(c.id order by c.ord) filter (where not c.needs_submit),
         array_agg(c.id order by c.ord) filter (where c.needs_submit)
  into v_plain, v_submit
  from cands c;

  if v_plain is null and v_submit is null then
    return;
  end if;

  if v_submit is not null then
    -- Serialize the cap check across claimers; held to commit, so the next claimer's count sees
    -- our leases. Claims without Tripo submissions never wait on it.
    perform pg_advisory_xact_lock(hashtext('bff.claim_jobs.tripo_cap'));
    v_slots := greatest(v_cap - bff.tripo_in_flight(), 0);
    v_submit := v_submit[1:v_slots];
  end if;

  -- One set-based claim. The row lock re-checks every condition on the current row version, so
  -- a job that changed since the candidate scan (claimed elsewhere, or now needing submission
  -- without a cap slot) is skipped.
  with pick as (
    select j.id
    from public.jobs j
    join unnest(coalesce(v_plain, '{}') || coalesce(v_submit, '{}')) with ordinality as o(id, ord)
      on o.id = j.id
    where j.state in ('queued', 'running')
      and j.run_at <= now()
      and (j.lease_token is null or j.lease_expires_at <= now())
      and j.deadline_at >= now()
      and (j.provider <> 'tripo' or j.provider_task_id is not null or j.submitted_at is not null
           or j.id = any (coalesce(v_submit, '{}')))
    order by o.ord
    limit p_limit
    for update of j skip locked
  ),
  claimed as (
    update public.jobs j
    set state = 'running',
        lease_token = gen_random_uuid(),
        lease_expires_at = now() + v_lease,
        run_at = now() + v_lease
    from pick
    where j.id = pick.id
    returning j.id
  )
  select array_agg(c.id) into v_claimed from claimed c;

  if v_claimed is null then
    return;
  end if;

  update public.concept_images c set status = 'processing'
  where c.job_id = any (v_claimed) and c.status = 'pending';
  update public.models m set status = 'processing'
  where m.job_id = any (v_claimed) and m.status = 'pending';

  return query
    select j.id, j.lease_token, j.user_id, j.kind, j.provider, j.client_task_id, j.request,
           j.provider_task_id, j.submitted_at, j.attempts, j.progress
    from public.jobs j
    where j.id = any (v_claimed);
end
$$;
comment on function bff.claim_jobs(int, int, int) is
  'Fails jobs past their deadline, then leases up to p_limit due jobs (FOR UPDATE SKIP LOCKED, '
  'one set-based update), fair across users, keeping Tripo tasks in flight below p_tripo_cap.';

-- Batch completion ---------------------------------------------------------------------------
-- Redefined in 20261125000700_cheaper_fair_claim.sql (sets updated_at itself).
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
        finished_at = now(), lease_token = null, lease_expires_at = null,
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
  select i.id, exists (select 1 from done d where d.id = i.id)
  from input i
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

-- Submission + first poll in one call ----------------------------------------------------------
drop function if exists bff.record_submission(uuid, uuid, text);
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
revoke all on function bff.record_submission(uuid, uuid, text, numeric)
  from public, anon, authenticated;
grant execute on function bff.record_submission(uuid, uuid, text, numeric) to service_role;
