-- Baseline (8/9): reads and operations. task-status reads a job with job_status (never a
-- provider, never a write); refine looks up the caller's own finished models; operators see the
-- queue in two service-only views and prune finished history.

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
