-- A completion read finished history it did not need. bff.complete_jobs looks up which of the
-- jobs it just completed asked for conversions, and bff.chain_conversions reads those jobs back;
-- both tested the state beside the job ids, and when the statistics were older than the jobs
-- finished since (the bench's drain analyzes the queue when nothing has finished yet; on the
-- platform autovacuum analyzes a busy table only every so often), the planner chose
-- jobs_finished_idx over the primary key and walked every finished job, once per completion:
-- 4.8 ms per bff.complete_job with 3,500 finished jobs (pgbench, one client), growing with the
-- history. Both now read the rows by primary key first (a materialized CTE) and filter after.
-- Same statements otherwise, same answers, same grants.

create or replace function bff.complete_jobs(p_jobs jsonb)
returns table (job_id uuid, ok boolean)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_chain uuid[];
begin
  return query
  with input as (
    select (e ->> 'job_id')::uuid as id, (e ->> 'lease_token')::uuid as tok,
           case when jsonb_typeof(e -> 'outputs') = 'array' then e -> 'outputs'
                else '[]'::jsonb end as outputs
    from jsonb_array_elements(p_jobs) e
  ),
  done as (
    update public.jobs j
    set state = 'succeeded', progress = 100, result = jsonb_build_object('outputs', i.outputs),
        eta_seconds = null,
        finished_at = now(), updated_at = now(), lease_token = null, lease_expires_at = null,
        error_code = null, error_message = null
    from input i
    where j.id = i.id and j.lease_token = i.tok and j.state in ('queued', 'running')
    returning j.id, i.outputs
  ),
  -- Each concept image takes the output at its image_index; images the provider did not return
  -- (fewer outputs than requested) end failed, not pending.
  images as (
    update public.concept_images c
    set status = case when d.outputs -> c.image_index is null then 'failed' else 'complete' end,
        storage_bucket = d.outputs -> c.image_index ->> 'bucket',
        storage_path = d.outputs -> c.image_index ->> 'path',
        asset_url = d.outputs -> c.image_index ->> 'url',
        error = case when d.outputs -> c.image_index is null
                     then 'The provider returned fewer images than requested.' end
    from done d
    where c.job_id = d.id
    returning c.id
  ),
  models as (
    update public.models m
    set status = 'complete', storage_bucket = d.outputs -> 0 ->> 'bucket',
        storage_path = d.outputs -> 0 ->> 'path', asset_url = d.outputs -> 0 ->> 'url',
        progress = 100, error = null
    from done d
    where m.job_id = d.id
    returning m.id
  )
  -- Data-modifying CTEs run to completion whether or not the final select reads them.
  select i.id, d.id is not null
  from input i
  left join done d on d.id = i.id;

  -- Models that asked for conversions: chained in this same transaction (the statement above
  -- has run, so their new state is visible here).
  -- The rows are read by primary key only (a materialized CTE), then filtered: with the state
  -- test beside the id test, stale statistics (the jobs finished since the last ANALYZE) made
  -- the planner scan every finished job through jobs_finished_idx, once per completion.
  with batch as materialized (
    select j.id, j.state, j.request ? 'output_formats' as wants_formats
    from public.jobs j
    where j.id in (select (e ->> 'job_id')::uuid from jsonb_array_elements(p_jobs) e)
  )
  select array_agg(b.id) into v_chain
  from batch b
  where b.state = 'succeeded' and b.wants_formats;
  if v_chain is not null then
    perform bff.chain_conversions(v_chain);
  end if;
end
$$;

comment on function bff.complete_jobs(jsonb) is
  'Finishes a batch: p_jobs is [{job_id, lease_token, outputs: [{bucket, path, url}]}]; a job '
  'completes only if the token still holds it (ok = false otherwise). Rows get their permanent '
  'storage location; models that asked for output_formats get their conversions.';

revoke all on function bff.complete_jobs(jsonb) from public, anon, authenticated;
grant execute on function bff.complete_jobs(jsonb) to service_role;

create or replace function bff.chain_conversions(p_source_ids uuid[])
returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  r record;
  v_price int := coalesce(
    (select p.price from public.credit_prices p where p.kind = 'convert_model'), 0);
  v_funded boolean;
  v_id uuid;
  v_request jsonb;
  v_n int := 0;
  v_short constant text := 'Not enough credits for this conversion; nothing was charged.';
begin
  for r in
    -- By primary key first (materialized), for the reason given in bff.complete_jobs.
    with src as materialized (
      select x.* from public.jobs x where x.id = any(p_source_ids)
    )
    select s.id as source_id, s.user_id, s.client_task_id, s.provider_task_id, s.max_attempts,
           s.deadline_at - s.created_at as budget, f.format,
           (select m.id from public.models m where m.job_id = s.id
            order by m.created_at limit 1) as model_id
    from src s
    cross join lateral jsonb_array_elements_text(s.request -> 'output_formats')
      with ordinality as f(format, n)
    where s.id = any(p_source_ids) and s.state = 'succeeded' and s.provider = 'tripo'
      and s.provider_task_id is not null
      and jsonb_typeof(s.request -> 'output_formats') = 'array'
      and not exists (select 1 from public.jobs c where c.source_job_id = s.id)
    order by s.id, f.n
  loop
    v_id := gen_random_uuid();
    -- Held in the same statement that checks it (no account: nothing to hold).
    v_funded := v_price = 0 or bff.hold_credits(r.user_id, v_id, v_price, v_price,
                                                'convert_model') is not null;
    -- The shape generate-convert-model stores (jobs/schemas.ts tripoTaskRequest, convert_model).
    v_request := jsonb_build_object(
      'op', 'tripo_task', 'tripo_type', 'convert_model',
      'params', jsonb_build_object('format', r.format),
      'original_model_task_id', r.provider_task_id, 'inputs', '[]'::jsonb);
    insert into public.jobs (
      id, user_id, kind, provider, client_task_id, request, idempotency_key, request_hash,
      rate_bucket, max_attempts, run_at, deadline_at, cost, source_job_id,
      state, error_code, error_message, finished_at
    ) values (
      v_id, r.user_id, 'convert_model', 'tripo', r.client_task_id, v_request,
      'chain:' || r.source_id || ':' || r.format, md5(v_request::text), 'chained',
      r.max_attempts, now(), now() + r.budget, case when v_funded then v_price else 0 end,
      r.source_id,
      case when v_funded then 'queued' else 'failed' end,
      case when v_funded then null else 'credits_exhausted' end,
      case when v_funded then null else v_short end,
      case when v_funded then null else now() end
    );
    insert into public.models (
      task_id, user_id, status, job_id, format, source_model_id, error, metadata
    ) values (
      r.client_task_id, r.user_id, case when v_funded then 'pending' else 'failed' end, v_id,
      r.format, r.model_id, case when v_funded then null else v_short end,
      jsonb_build_object('kind', 'convert_model', 'format', r.format, 'chained', true)
    );
    v_n := v_n + 1;
  end loop;
  return v_n;
end
$$;
comment on function bff.chain_conversions(uuid[]) is
  'Internal (complete_jobs): creates the conversion jobs the succeeded models asked for, once.';
revoke all on function bff.chain_conversions(uuid[]) from public, anon, authenticated;
