-- Claims pass the Tripo jobs waiting for a slot by. With the Tripo cap full (TRIPO_MAX_CONCURRENCY
-- tasks in flight) a claim takes only jobs that need no submission, but it read them out of the
-- claim indexes, which hold every unfinished job, and filtered the waiting Tripo jobs out one by
-- one: every claim (each wake-up, each poll round) grew with the backlog behind the cap. The bench
-- (queue section, a diagnostic since session 15) measured claim_jobs(8) with 10,000 waiting at 3x
-- the empty table with 8 due and 10.5x with nothing due; on a scratch database 0.68 ms with none
-- waiting, 2.9 ms with 2,000, 9.4 ms with 10,000 (pgbench, one client).
--
-- Two partial indexes hold only the jobs that are ready to run without a submission slot (OpenAI
-- jobs, Tripo jobs already submitted); the candidate query is written once, in
-- bff.claim_candidates, an inlinable SQL function whose p_submit argument claim_jobs passes as a
-- constant, so the planner folds the predicate and reads the ready indexes when the cap is full.
-- The claim's top-up pass (due order, no submissions) reads the ready due index. Same candidates,
-- same order, same answers; a job entering or leaving the ready set is one more index entry (jobs
-- waiting for submission, the bulk of a backlog, are in neither index).

-- Their state test is written as the terminal states excluded, not as jobs_claimable_idx's list
-- of the unfinished ones (the same rows, by the state check): a query that states it so can only
-- be served by these indexes, never by that superset with the waiting jobs filtered out, which
-- the planner would otherwise pick when it guesses that a LIMIT 1 finds a ready row at once
-- (seen in the bench: 9,950 rows read and filtered out for a claim that found nothing).
create index if not exists jobs_ready_claimable_idx on public.jobs (user_id, run_at)
  where state not in ('succeeded', 'failed', 'cancelled')
    and (provider <> 'tripo' or provider_task_id is not null or submitted_at is not null);
create index if not exists jobs_ready_due_idx on public.jobs (run_at)
  where state not in ('succeeded', 'failed', 'cancelled')
    and (provider <> 'tripo' or provider_task_id is not null or submitted_at is not null);

-- Plain SQL with no SECURITY DEFINER or SET clause so that it is inlined into claim_jobs (which
-- runs it as the table owner, with an empty search_path); p_submit false: only jobs that need no
-- submission slot.
create or replace function bff.claim_candidates(p_limit int, p_start uuid, p_submit boolean)
returns table (id uuid, needs_submit boolean, ord bigint)
language sql
stable
as $$
  with recursive
  -- Each step finds the next user with due work and that user's oldest due job in one probe.
  fwd as (
    (select j.user_id as uid, j.id, j.run_at,
            (j.provider = 'tripo' and j.provider_task_id is null and j.submitted_at is null)
              as needs_submit, 1 as n
     from public.jobs j
     where (case when p_submit then j.state in ('queued', 'running')
            else j.state not in ('succeeded', 'failed', 'cancelled') end)
       and j.run_at <= now() and j.user_id >= p_start
       and (p_submit or j.provider <> 'tripo'
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
      where (case when p_submit then j.state in ('queued', 'running')
            else j.state not in ('succeeded', 'failed', 'cancelled') end)
        and j.run_at <= now() and j.user_id > f.uid
        and (p_submit or j.provider <> 'tripo'
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
     where (case when p_submit then j.state in ('queued', 'running')
            else j.state not in ('succeeded', 'failed', 'cancelled') end)
       and j.run_at <= now() and j.user_id < p_start
       and (p_submit or j.provider <> 'tripo'
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
      where (case when p_submit then j.state in ('queued', 'running')
            else j.state not in ('succeeded', 'failed', 'cancelled') end)
        and j.run_at <= now() and j.user_id > w.uid
        and j.user_id < p_start
        and (p_submit or j.provider <> 'tripo'
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
        where j.user_id = u.uid and (case when p_submit then j.state in ('queued', 'running')
            else j.state not in ('succeeded', 'failed', 'cancelled') end)
          and j.run_at <= now()
          and j.id <> u.id
          and (p_submit or j.provider <> 'tripo'
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
      where (case when p_submit then j.state in ('queued', 'running')
            else j.state not in ('succeeded', 'failed', 'cancelled') end)
        and j.run_at <= now()
        and (p_submit or j.provider <> 'tripo'
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
  select c.id, c.needs_submit, c.ord from cands c
$$;
comment on function bff.claim_candidates(int, uuid, boolean) is
  'Internal (claim_jobs): up to p_limit due jobs, fair across users (a skip-scan of the users from '
  'p_start, each user''s oldest first, then the oldest overall), in claim order; without '
  'p_submit only jobs that need no Tripo submission slot.';
revoke all on function bff.claim_candidates(int, uuid, boolean) from public, anon, authenticated;

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
-- by (user_id, run_at) is something only jobs_claimable_idx (with the cap full,
-- jobs_ready_claimable_idx) can deliver.
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

  -- Candidates, fair across users (bff.claim_candidates, inlined here). With the cap full the
  -- candidates are only jobs needing no submission, read through the ready indexes: the Tripo
  -- jobs waiting for a slot are never read. The constant argument is what lets the planner, even
  -- with this function's generic plans, prove those partial indexes' predicate.
  if v_skip_submit then
    select array_agg(c.id order by c.ord) into v_plain
    from bff.claim_candidates(p_limit, v_start, false) c;
  else
    select array_agg(c.id order by c.ord) filter (where not c.needs_submit),
           array_agg(c.id order by c.ord) filter (where c.needs_submit)
    into v_plain, v_submit
    from bff.claim_candidates(p_limit, v_start, true) c;
  end if;

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
      where j.state not in ('succeeded', 'failed', 'cancelled') -- (jobs_ready_due_idx)
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
