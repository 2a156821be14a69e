-- Baseline (6/9): claiming jobs. A claim leases due jobs with FOR UPDATE SKIP LOCKED, fair across
-- users and within the Tripo concurrency cap, so any number of process-jobs invocations can run
-- at once; a lease that expires (a crashed invocation) makes the job claimable again, and an
-- isolate that shuts down hands its leases back at once (release_leases). A claim moves run_at
-- to the lease expiry, so "due" (run_at <= now()) and "not leased" coincide on the claim index.
-- All locks are transaction-scoped (pg_advisory_xact_lock): this works through a
-- transaction-mode pooler.

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
-- One generic plan per statement, made once per connection: planning the candidate query costs
-- more than running it, and custom plans were being re-made on every call. The statements are
-- written so that the generic plans read the partial claimable indexes: ordering the skip-scan
-- by (user_id, run_at) is something only jobs_claimable_idx can deliver.
set plan_cache_mode = force_generic_plan
as $$
declare
  v_expired uuid[];
  v_lease interval := make_interval(secs => greatest(coalesce(p_lease_seconds, 60), 1));
  v_start uuid := gen_random_uuid();
  v_cap int := coalesce(p_tripo_cap, 0);
  v_skip_submit boolean;
  v_plain uuid[];
  v_submit uuid[];
  v_slots int := 0;
  v_ids uuid[];
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
  -- point of the uuid space, wrapping, so no user is always last; at most one user per slot),
  -- take each user's oldest due jobs (an equal share), interleave them round-robin; then, for
  -- the slots left, the oldest due jobs overall, so a few busy users still fill every slot.
  with recursive
  -- Each step finds the next user with due work and that user's oldest due job in one probe.
  fwd as (
    (select j.user_id as uid, j.id, j.run_at,
            (j.provider = 'tripo' and j.provider_task_id is null and j.submitted_at is null)
              as needs_submit, 1 as n
     from public.jobs j
     where j.state in ('queued', 'running') and j.run_at <= now() and j.user_id >= v_start
       and (not v_skip_submit or j.provider <> 'tripo'
            or j.provider_task_id is not null or j.submitted_at is not null)
     order by j.user_id, j.run_at limit 1)
    union all
    select x.uid, x.id, x.run_at, x.needs_submit, f.n + 1
    from fwd f
    cross join lateral (
      select j.user_id as uid, j.id, j.run_at,
            (j.provider = 'tripo' and j.provider_task_id is null and j.submitted_at is null)
              as needs_submit
      from public.jobs j
      where j.state in ('queued', 'running') and j.run_at <= now() and j.user_id > f.uid
        and (not v_skip_submit or j.provider <> 'tripo'
            or j.provider_task_id is not null or j.submitted_at is not null)
      order by j.user_id, j.run_at limit 1
    ) x
    where f.n < p_limit
  ),
  wrap as (
    (select j.user_id as uid, j.id, j.run_at,
            (j.provider = 'tripo' and j.provider_task_id is null and j.submitted_at is null)
              as needs_submit, 1 as n
     from public.jobs j
     where j.state in ('queued', 'running') and j.run_at <= now() and j.user_id < v_start
       and (not v_skip_submit or j.provider <> 'tripo'
            or j.provider_task_id is not null or j.submitted_at is not null)
     order by j.user_id, j.run_at limit 1)
    union all
    select x.uid, x.id, x.run_at, x.needs_submit, w.n + 1
    from wrap w
    cross join lateral (
      select j.user_id as uid, j.id, j.run_at,
            (j.provider = 'tripo' and j.provider_task_id is null and j.submitted_at is null)
              as needs_submit
      from public.jobs j
      where j.state in ('queued', 'running') and j.run_at <= now() and j.user_id > w.uid
        and j.user_id < v_start
        and (not v_skip_submit or j.provider <> 'tripo'
            or j.provider_task_id is not null or j.submitted_at is not null)
      order by j.user_id, j.run_at limit 1
    ) x
    -- Only as many more users as the forward pass left slots for.
    where w.n < p_limit - (select count(*) from fwd)
  ),
  users as materialized (
    select uid, id, run_at, needs_submit, pos
    from (select uid, id, run_at, needs_submit, n as pos from fwd
          union all
          select uid, id, run_at, needs_submit, n + p_limit as pos from wrap) x
    order by pos
    limit p_limit
  ),
  share as (
    select (p_limit + count(*) - 1) / greatest(count(*), 1) as per_user from users
  ),
  -- Each user's oldest job, then (when there are fewer users than slots) the next ones up to an
  -- equal share: read up to the share, ranked after.
  fair as (
    select r.id, r.needs_submit, row_number() over (order by r.rn, r.pos) as ord
    from (
      select u.id, u.needs_submit, u.pos, 1::bigint as rn from users u
      union all
      select c.id, c.needs_submit, u.pos,
             1 + row_number() over (partition by u.pos order by c.run_at) as rn
      from users u
      cross join share s
      cross join lateral (
        select j.id, j.run_at,
            (j.provider = 'tripo' and j.provider_task_id is null and j.submitted_at is null)
              as needs_submit
        from public.jobs j
        where j.user_id = u.uid and j.state in ('queued', 'running') and j.run_at <= now()
          and j.id <> u.id
          and (not v_skip_submit or j.provider <> 'tripo'
            or j.provider_task_id is not null or j.submitted_at is not null)
        order by j.run_at
        limit s.per_user - 1
      ) c
    ) r
  ),
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
      -- Only the slots the fair shares left (none is read when they fill the claim).
      limit greatest(p_limit - (select count(*) from fair), 0)
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

  -- Lock the candidates in order. The row lock re-checks every condition on the current row
  -- version, so a job that changed since the candidate scan (claimed elsewhere, or now needing
  -- submission without a cap slot) is skipped.
  select array_agg(p.id order by p.ord) into v_ids
  from (
    select j.id, o.ord
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
  ) p;
  v_ids := coalesce(v_ids, '{}');

  -- Short because concurrent claimers hold some candidates: top up in due order with a
  -- streaming scan that walks past their locked rows (our own locks do not make SKIP LOCKED
  -- skip, hence the id filter). Only jobs needing no Tripo submission, whose cap was settled
  -- above.
  if cardinality(v_ids) < p_limit then
    select v_ids || coalesce(array_agg(t.id), '{}') into v_ids
    from (
      select j.id
      from public.jobs j
      where j.state in ('queued', 'running')
        and j.run_at <= now()
        and (j.lease_token is null or j.lease_expires_at <= now())
        and j.deadline_at >= now()
        and (j.provider <> 'tripo' or j.provider_task_id is not null or j.submitted_at is not null)
        and j.id <> all (v_ids)
      order by j.run_at
      limit p_limit - cardinality(v_ids)
      for update of j skip locked
    ) t;
  end if;

  -- One set-based lease of every locked job. An id array, not a join: the plan stays an index
  -- probe per row whatever the estimates.
  return query
  with claimed as (
    update public.jobs j
    set state = 'running',
        lease_token = gen_random_uuid(),
        lease_expires_at = now() + v_lease,
        run_at = now() + v_lease,
        updated_at = now()
    where j.id = any (v_ids)
    returning j.id, j.lease_token, j.user_id, j.kind, j.provider, j.client_task_id, j.request,
              j.provider_task_id, j.submitted_at, j.attempts, j.progress
  ),
  images as (
    update public.concept_images c set status = 'processing'
    where c.job_id = any (v_ids) and c.status = 'pending'
  ),
  models as (
    update public.models m set status = 'processing'
    where m.job_id = any (v_ids) and m.status = 'pending'
  )
  select k.* from claimed k;
end
$$;
comment on function bff.claim_jobs(int, int, int) is
  'Fails jobs past their deadline, then leases up to p_limit due jobs (FOR UPDATE SKIP LOCKED), '
  'fair across users, keeping Tripo tasks in flight below p_tripo_cap; a claim that comes up '
  'short against concurrent claimers tops up in due order.';
revoke all on function bff.claim_jobs(int, int, int) from public, anon, authenticated;
grant execute on function bff.claim_jobs(int, int, int) to service_role;

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
revoke all on function bff.heartbeat(uuid, uuid, int) from public, anon, authenticated;
grant execute on function bff.heartbeat(uuid, uuid, int) to service_role;

create or replace function bff.release_leases(p_tokens jsonb)
returns int
language sql
security definer
set search_path = ''
as $$
  with released as (
    update public.jobs j
    set lease_token = null, lease_expires_at = null, run_at = now()
    where j.lease_token in (select (t #>> '{}')::uuid from jsonb_array_elements(p_tokens) t)
      and j.state in ('queued', 'running')
    returning 1
  )
  select count(*)::int from released
$$;
comment on function bff.release_leases(jsonb) is
  'Hands back the leases with these tokens (an isolate shutting down): the jobs are due at once '
  'for another invocation. A paid call that may be in flight is still never replayed '
  '(begin_submit has recorded it).';
revoke all on function bff.release_leases(jsonb) from public, anon, authenticated;
grant execute on function bff.release_leases(jsonb) to service_role;

create or replace function bff.next_due_at()
returns timestamptz
language sql
stable
security definer
set search_path = ''
as $$
  select min(greatest(j.run_at, coalesce(j.lease_expires_at, j.run_at)))
  from public.jobs j
  where j.state in ('queued', 'running')
$$;
comment on function bff.next_due_at() is
  'Earliest time a non-terminal job becomes due (an idle process-jobs loop sleeps until then).';
revoke all on function bff.next_due_at() from public, anon, authenticated;
grant execute on function bff.next_due_at() to service_role;
