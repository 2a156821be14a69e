-- task-status reads a job with bff.job_status, which counts its place with bff.queue_position.
-- Both were SQL functions with SECURITY DEFINER and their own search_path, which PostgreSQL never
-- inlines and whose bodies it parses and plans on every call: each read paid for planning the
-- whole statement (the job, its view, the sorted conversions) and the count. As plpgsql each
-- statement is planned once per server connection and reused, which the transaction pooler's
-- long-lived connections keep. pgbench on a scratch database, one client, alternating runs:
-- job_status alone as plpgsql 505–878 -> 709–1,428 reads/s (4 clients ~1,700 -> 2,704–2,960);
-- then queue_position too: a queued job 49th in line 1,111–1,484 -> 2,620–2,787, a succeeded one
-- 1,149–1,227 -> 1,707–2,295. Same statements, same answers. The live-update trigger's queue
-- moves (bff.broadcast_updated_jobs) call queue_position per row and get the cached plan too.

create or replace function bff.job_status(p_job_id uuid, p_user_id uuid)
returns table (view jsonb, outputs jsonb, conversions jsonb)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return query
  select bff.job_view(j, bff.queue_position(j)),
         case when j.state = 'succeeded' then coalesce(j.result -> 'outputs', '[]'::jsonb)
              else '[]'::jsonb end,
         coalesce((
           select jsonb_agg(jsonb_build_object(
                    'job_id', c.id, 'format', c.request -> 'params' ->> 'format',
                    'status', bff.status_of(c.state))
                  -- Chained ones in the order asked, then conversions by URL as they came.
                  order by (select x.n from jsonb_array_elements_text(j.request -> 'output_formats')
                              with ordinality as x(f, n)
                            where c.rate_bucket = 'chained' and x.f = c.request -> 'params' ->> 'format'),
                           c.created_at, c.id)
           from public.jobs c
           where c.source_job_id = j.id and c.user_id = j.user_id
         ), '[]'::jsonb)
  from public.jobs j
  where j.id = p_job_id and j.user_id = p_user_id;
end
$$;
comment on function bff.job_status(uuid, uuid) is
  'The caller''s own job as the app sees it, its outputs to sign, and the conversions of its '
  'model (no row for unknown or other users'' jobs).';
revoke all on function bff.job_status(uuid, uuid) from public, anon, authenticated;
grant execute on function bff.job_status(uuid, uuid) to service_role;

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
  return (
    select count(*)::int from (
      select 1 from public.jobs j
      where j.state = 'queued' and j.provider = p_job.provider
        and (j.run_at, j.id) < (p_job.run_at, p_job.id)
      limit 1000
    ) ahead
  );
end
$$;
comment on function bff.queue_position(public.jobs) is
  'Queued jobs of the same provider ahead of this one (up to 1000); 0 once it runs.';
revoke all on function bff.queue_position(public.jobs) from public, anon, authenticated;
grant execute on function bff.queue_position(public.jobs) to service_role;
