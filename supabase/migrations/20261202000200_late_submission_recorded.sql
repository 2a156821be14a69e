-- A cancel (or a deadline) that lands while the provider call is in flight used to lose the
-- provider's task id: record_submission only stored it on a job the caller still held, so a paid
-- task existed at Tripo that no row named (SPEC §5: the id is stored the moment it is known). Now
-- the id is also kept on a job that ended meanwhile and has none yet; the caller still gets false
-- (its lease is gone) and nothing else of the ended job changes: no state, no event.
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
    -- Ended while the call was in flight: keep the id for tracing, change nothing else.
    update public.jobs j
    set provider_task_id = p_provider_task_id,
        submitted_at = coalesce(j.submitted_at, now())
    where j.id = p_job_id and j.provider_task_id is null
      and j.state in ('cancelled', 'failed');
    if found then
      update public.concept_images c set ai_service_task_id = p_provider_task_id
      where c.job_id = p_job_id and c.ai_service_task_id is null;
      update public.models m set ai_service_task_id = p_provider_task_id
      where m.job_id = p_job_id and m.ai_service_task_id is null;
    end if;
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
  'p_next_run_seconds, also releases the lease and schedules the first poll. A job that ended '
  'while the call was in flight keeps the id (for tracing) and the caller gets false.';
