-- The live-update triggers build bff.job_view for every row a statement changes (the claim and
-- the completion change up to 50 at once), and it was not inlined: PostgreSQL does not inline a
-- SQL function whose body holds a sub-select, and the outputs list was one. Each call then went
-- through the SQL-function executor with the whole row, about two thirds of the broadcast's cost
-- in the queue drain. The sub-select now lives in bff.stored_outputs (called only for succeeded
-- jobs), so job_view itself is a single expression and inlined into its callers. Same answers.

create or replace function bff.stored_outputs(p_result jsonb)
returns jsonb
language sql
immutable
as $$
  select coalesce((
    select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('bucket', o ->> 'bucket',
                                                             'path', o ->> 'path') order by n)
    from pg_catalog.jsonb_array_elements(p_result -> 'outputs') with ordinality as x(o, n)
  ), '[]'::jsonb)
$$;
comment on function bff.stored_outputs(jsonb) is
  'A job result''s outputs as the app sees them: bucket + path, in order (nothing that expires).';
revoke all on function bff.stored_outputs(jsonb) from public, anon, authenticated;
grant execute on function bff.stored_outputs(jsonb) to service_role;

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
    'status', bff.status_of(p_job.state),
    'progress', p_job.progress,
    'queue_position', coalesce(p_queue_position, 0),
    'eta_seconds', case when p_job.state = 'running' then p_job.eta_seconds end,
    'outputs', case when p_job.state = 'succeeded' then bff.stored_outputs(p_job.result)
                    else '[]'::jsonb end,
    'error', case when p_job.state in ('failed', 'cancelled')
      then coalesce(p_job.error_message, 'The job failed.') end,
    'error_code', case when p_job.state in ('failed', 'cancelled') then p_job.error_code end,
    'cost', p_job.cost,
    'source_task_id', p_job.source_job_id,
    'seq', p_job.event_seq,
    'updated_at', p_job.updated_at
  )
$$;
comment on function bff.job_view(public.jobs, int) is
  'The job as the app sees it (task-status and live events): no expiring URLs, a per-job seq. '
  'One expression, so it is inlined where it is used.';
