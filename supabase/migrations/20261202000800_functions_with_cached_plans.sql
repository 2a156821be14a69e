-- Every bff function that PostgreSQL cannot inline is plpgsql. They were SQL functions with
-- SECURITY DEFINER and their own search_path, which are never inlined and whose bodies PostgreSQL
-- parses and plans on every call; as plpgsql each statement is planned once per server connection
-- and reused, which the transaction pooler's long-lived connections keep. Same statements, same
-- answers, same grants. pgTAP (01_schema.sql) now refuses a new SQL function of that kind.
-- pgbench on a scratch database, one client, alternating runs, before -> after:
-- - task-status's bff.job_status: 505–878 -> 709–1,428 reads/s (4 clients ~1,700 -> 2,704–2,960);
--   with bff.queue_position too, a queued job 49th in line 1,111–1,484 -> 2,620–2,787, a succeeded
--   one 1,149–1,227 -> 1,707–2,295;
-- - bff.claim_jobs(8) with nothing due (it counts the Tripo tasks in flight with
--   bff.tripo_in_flight): 977–1,220 -> 2,010–2,704 claims/s; tripo_in_flight alone
--   1,275–1,429 -> 5,520–6,061; bff.next_due_at (the idle loop) 1,576–1,767 -> 4,740–5,968.

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

create or replace function bff.tripo_in_flight()
returns int
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return (
    (select count(*) from public.jobs j
     where j.provider = 'tripo' and j.state in ('queued', 'running')
       and j.submitted_at is not null)
    + (select count(*) from public.jobs j
       where j.provider = 'tripo' and j.state in ('queued', 'running')
         and j.submitted_at is null and j.lease_expires_at > now())
  )::int;
end
$$;
comment on function bff.tripo_in_flight() is
  'Tripo tasks that count against TRIPO_MAX_CONCURRENCY: submitted (or being submitted) and not '
  'finished, plus jobs leased for submission.';
revoke all on function bff.tripo_in_flight() from public, anon, authenticated;
grant execute on function bff.tripo_in_flight() to service_role;

create or replace function bff.next_due_at()
returns timestamptz
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return (
    select min(greatest(j.run_at, coalesce(j.lease_expires_at, j.run_at)))
    from public.jobs j
    where j.state in ('queued', 'running')
  );
end
$$;
comment on function bff.next_due_at() is
  'Earliest time a non-terminal job becomes due (an idle process-jobs loop sleeps until then).';
revoke all on function bff.next_due_at() from public, anon, authenticated;
grant execute on function bff.next_due_at() to service_role;

create or replace function bff.release_leases(p_tokens jsonb)
returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count int;
begin
  with released as (
    update public.jobs j
    set lease_token = null, lease_expires_at = null, run_at = now()
    where j.lease_token in (select (t #>> '{}')::uuid from jsonb_array_elements(p_tokens) t)
      and j.state in ('queued', 'running')
    returning 1
  )
  select count(*)::int into v_count from released;
  return v_count;
end
$$;
comment on function bff.release_leases(jsonb) is
  'Hands back the leases with these tokens (an isolate shutting down): the jobs are due at once '
  'for another invocation. A paid call that may be in flight is still never replayed '
  '(begin_submit has recorded it).';
revoke all on function bff.release_leases(jsonb) from public, anon, authenticated;
grant execute on function bff.release_leases(jsonb) to service_role;

create or replace function bff.find_source_model(p_user_id uuid, p_bucket text, p_path text)
returns table (task_id text, model_id uuid, model_version text)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  -- A GLB only: refine needs a draft, and Tripo converts a converted model with no options.
  return query
  select m.ai_service_task_id, m.id, j.request -> 'params' ->> 'model_version'
  from public.models m
  left join public.jobs j on j.id = m.job_id
  where m.user_id = p_user_id and m.storage_bucket = p_bucket and m.storage_path = p_path
    and m.status = 'complete' and m.ai_service_task_id is not null and m.format = 'GLB'
  order by m.created_at desc
  limit 1;
end
$$;
comment on function bff.find_source_model(uuid, text, text) is
  'The caller''s own complete GLB model stored at bucket/path: its provider task id, its row and '
  'the model_version it was made with (no row otherwise). Refine and convert start from it.';
revoke all on function bff.find_source_model(uuid, text, text) from public, anon, authenticated;
grant execute on function bff.find_source_model(uuid, text, text) to service_role;

create or replace function bff.owns_draft(p_user_id uuid, p_draft_task_id text)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (
    select 1 from public.models m
    where m.user_id = p_user_id and m.ai_service_task_id = p_draft_task_id
      and m.status = 'complete' and m.format = 'GLB'
  );
end
$$;
comment on function bff.owns_draft(uuid, text) is
  'Whether p_draft_task_id is the provider id of one of the caller''s own finished models.';
revoke all on function bff.owns_draft(uuid, text) from public, anon, authenticated;
grant execute on function bff.owns_draft(uuid, text) to service_role;

create or replace function bff.credit_price_list()
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return (select jsonb_object_agg(p.kind, p.price) from public.credit_prices p);
end
$$;
comment on function bff.credit_price_list() is 'Every job kind''s price in credits ({kind: price}).';
revoke all on function bff.credit_price_list() from public, anon, authenticated;
grant execute on function bff.credit_price_list() to service_role;

create or replace function bff.set_credit_prices(p_prices jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_prices jsonb;
begin
  -- The outer select reads the prices as they were before the update: the new ones come from it.
  with upd as (
    update public.credit_prices p set price = (e.value)::int, updated_at = now()
    from jsonb_each_text(p_prices) e
    where p.kind = e.key
    returning p.kind
  )
  select jsonb_object_agg(p.kind, coalesce(
           (select (p_prices ->> p.kind)::int from upd where upd.kind = p.kind), p.price))
  into v_prices
  from public.credit_prices p;
  return v_prices;
end
$$;
comment on function bff.set_credit_prices(jsonb) is
  'Sets the prices of the kinds given ({kind: price}) and answers all prices.';
revoke all on function bff.set_credit_prices(jsonb) from public, anon, authenticated;
grant execute on function bff.set_credit_prices(jsonb) to service_role;
