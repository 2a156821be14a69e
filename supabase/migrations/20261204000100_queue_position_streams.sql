-- Queue positions are counted by a streaming index scan that stops at the cap. The count behind
-- queue_position (the accepted event of every POST, task-status, the events of jobs whose place
-- changed) was planned with the statistics of the moment, and with statistics older than the
-- queue (a busy table between two autovacuum analyzes, or a fresh one) the planner took a bitmap
-- scan of jobs_due_idx. A bitmap reads every entry in range before the first row, the entries of
-- cancelled and finished jobs not yet vacuumed included, and never marks them dead, so each POST
-- paid for the queue's whole recent history, more with every batch of cancellations until a
-- vacuum. Measured in a DO loop of 300 enqueue_job calls, 300–600 Tripo jobs waiting, repeated
-- without a vacuum in between: 0.45 -> 0.88 ms per call over four rounds, against 0.42 ms flat
-- with the streaming scan (which marks the dead entries it meets, so the next count skips them).
-- One count, bff.queued_ahead, now serves every caller; bitmap scans are off for its one query.
-- Same answers; the callers keep their settings and grants.
create or replace function bff.queued_ahead(p_provider text, p_run_at timestamptz, p_id uuid)
returns int
language plpgsql
stable
security definer
set search_path = ''
set enable_bitmapscan = off
as $$
begin
  return (
    select count(*)::int from (
      select 1 from public.jobs j
      where j.state = 'queued' and j.provider = p_provider
        and (j.run_at, j.id) < (p_run_at, p_id)
      limit 1000
    ) ahead
  );
end
$$;
comment on function bff.queued_ahead(text, timestamptz, uuid) is
  'Jobs of the provider waiting before (run_at, id) in claim order, counted up to 1000.';
revoke all on function bff.queued_ahead(text, timestamptz, uuid) from public, anon, authenticated;
grant execute on function bff.queued_ahead(text, timestamptz, uuid) to service_role;

create or replace function bff.queue_position(p_job public.jobs)
returns int
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  -- Jobs of the same provider ahead of this one in the queue (claim order: run_at, then id),
  -- counted up to 1000; 0 once the job has left the queue.
  if p_job.state <> 'queued' then
    return 0;
  end if;
  return bff.queued_ahead(p_job.provider, p_job.run_at, p_job.id);
end
$$;

-- Accepted: the jobs an INSERT statement created, with their places in the queue.
create or replace function bff.broadcast_inserted_jobs()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_events jsonb;
begin
  -- One count per provider for the jobs queued before this statement's first one, then each
  -- new job's rank among its own: exact for the one-row inserts of enqueue_job, one query for
  -- a bulk insert.
  with first_of as (
    select distinct on (n.provider) n.provider, n.run_at, n.id
    from new_rows n
    order by n.provider, n.run_at, n.id
  ),
  -- Materialized: otherwise the planner runs the count once per new row instead of per provider.
  base as materialized (
    select f.provider, bff.queued_ahead(f.provider, f.run_at, f.id) as ahead
    from first_of f
  )
  select jsonb_agg(e.event order by e.id) into v_events
  from (
    select j.id, jsonb_build_object('user_id', j.user_id, 'payload', bff.job_view(j,
             case when j.state = 'queued' then least(b.ahead - 1 + row_number() over (
               partition by j.provider order by j.run_at, j.id), 1000)::int else 0 end)) as event
    from new_rows j
    join base b on b.provider = j.provider
  ) e;
  perform bff.send_job_events(v_events);
  return null;
end
$$;
