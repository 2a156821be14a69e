-- task-status reads a job with bff.job_status. As a SQL function with SECURITY DEFINER and its own
-- search_path it is never inlined, and PostgreSQL plans a SQL function's body afresh on every
-- call: each read paid the parse and plan of the whole statement (the job, its view, the sorted
-- conversions). As plpgsql the statement is planned once per server connection and reused, which
-- the transaction pooler's long-lived connections keep. pgbench (one succeeded job, four
-- alternating runs): 1 client 505–878 -> 709–1,428 reads/s, 4 clients 1,694–1,730 -> 2,704–2,960.
-- Same statement, same answers.
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
