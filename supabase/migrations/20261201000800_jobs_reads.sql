-- Baseline (8/9): reads and operations. task-status reads a job with job_status (never a
-- provider, never a write); refine looks up the caller's own finished models; operators see the
-- queue in two service-only views and prune finished history.

-- What the app sees of a job, in one place: task-status answers it (with signed URLs added) and
-- the live events carry it (live_updates.sql). Nothing in it expires: outputs are bucket + path.
create or replace function bff.queue_position(p_job public.jobs)
returns int
language sql
stable
security definer
set search_path = ''
as $$
  -- Jobs of the same provider ahead of this one in the queue (claim order: run_at, then id),
  -- counted up to 1000; 0 once the job has left the queue.
  select case when p_job.state <> 'queued' then 0 else (
    select count(*)::int from (
      select 1 from public.jobs j
      where j.state = 'queued' and j.provider = p_job.provider
        and (j.run_at, j.id) < (p_job.run_at, p_job.id)
      limit 1000
    ) ahead
  ) end
$$;
comment on function bff.queue_position(public.jobs) is
  'Queued jobs of the same provider ahead of this one (up to 1000); 0 once it runs.';
revoke all on function bff.queue_position(public.jobs) from public, anon, authenticated;
grant execute on function bff.queue_position(public.jobs) to service_role;

-- Plain SQL with no SECURITY DEFINER or SET clause so that it is inlined where it is used: the
-- live-update triggers build it for every row a statement changed. It reads only its argument.
create or replace function bff.job_view(p_job public.jobs, p_queue_position int)
returns jsonb
language sql
stable
as $$
  select jsonb_build_object(
    'task_id', p_job.id,
    'client_task_id', p_job.client_task_id,
    'kind', p_job.kind,
    'service', case p_job.provider when 'openai' then 'openai' else 'tripoai' end,
    'status', case p_job.state
      when 'queued' then 'pending'
      when 'running' then 'processing'
      when 'succeeded' then 'complete'
      else 'failed'
    end,
    'progress', p_job.progress,
    'queue_position', coalesce(p_queue_position, 0),
    'eta_seconds', case when p_job.state = 'running' then p_job.eta_seconds end,
    'outputs', case when p_job.state = 'succeeded' then coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('bucket', o ->> 'bucket',
                                                               'path', o ->> 'path') order by n)
      from pg_catalog.jsonb_array_elements(p_job.result -> 'outputs') with ordinality as x(o, n)
    ), '[]'::jsonb) else '[]'::jsonb end,
    'error', case when p_job.state in ('failed', 'cancelled')
      then coalesce(p_job.error_message, 'The job failed.') end,
    'error_code', case when p_job.state in ('failed', 'cancelled') then p_job.error_code end,
    'cost', p_job.cost,
    'seq', p_job.event_seq,
    'updated_at', p_job.updated_at
  )
$$;
comment on function bff.job_view(public.jobs, int) is
  'The job as the app sees it (task-status and live events): no expiring URLs, a per-job seq.';
revoke all on function bff.job_view(public.jobs, int) from public, anon, authenticated;
grant execute on function bff.job_view(public.jobs, int) to service_role;

create or replace function bff.job_status(p_job_id uuid, p_user_id uuid)
returns table (view jsonb, outputs jsonb)
language sql
stable
security definer
set search_path = ''
as $$
  select bff.job_view(j, bff.queue_position(j)),
         case when j.state = 'succeeded' then coalesce(j.result -> 'outputs', '[]'::jsonb)
              else '[]'::jsonb end
  from public.jobs j
  where j.id = p_job_id and j.user_id = p_user_id
$$;
comment on function bff.job_status(uuid, uuid) is
  'The caller''s own job as the app sees it, and its outputs to sign (no row for unknown or '
  'other users'' jobs).';
revoke all on function bff.job_status(uuid, uuid) from public, anon, authenticated;
grant execute on function bff.job_status(uuid, uuid) to service_role;

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

revoke all on function bff.find_refine_draft(uuid, text, text) from public, anon, authenticated;
grant execute on function bff.find_refine_draft(uuid, text, text) to service_role;

create or replace function bff.owns_draft(p_user_id uuid, p_draft_task_id text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.models m
    where m.user_id = p_user_id and m.ai_service_task_id = p_draft_task_id
      and m.status = 'complete'
  )
$$;
comment on function bff.owns_draft(uuid, text) is
  'Whether p_draft_task_id is the provider id of one of the caller''s own finished models.';

revoke all on function bff.owns_draft(uuid, text) from public, anon, authenticated;
grant execute on function bff.owns_draft(uuid, text) to service_role;

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

revoke all on function bff.prune_finished(interval, int) from public, anon, authenticated;
grant execute on function bff.prune_finished(interval, int) to service_role;

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
