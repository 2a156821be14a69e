-- Conversions (SPEC §12): output_formats priced at enqueue, chained by the completion in its
-- own transaction (once, each its own job, models row, price held), credits_exhausted when the
-- user can no longer pay, task-status listing them, a conversion's failure leaving its source
-- alone, and conversions by URL linked to the model they convert.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(25);

select tests.create_user('vera');
select tests.create_user('walt');

create function pg_temp.enq(p_user text, p_key text, p_request jsonb, p_kind text default 'text_to_model',
  p_rows jsonb default '{}')
returns table (outcome text, job_id uuid, balance int, price int) language sql as $$
  select e.outcome, e.job_id, e.balance, e.price from bff.enqueue_job(tests.uid(p_user), p_kind,
    'tripo', 'cv-' || p_key, p_request, 'hdr:' || p_key, 'h', 'model', 1000, 1000, 1,
    p_rows || jsonb_build_object('prompt', 'p'), 8, 3600, 0) e
$$;
-- Takes a job through claim, submission (provider id `tripo-<key>`) and completion.
create function pg_temp.finish(p_key text) returns boolean language plpgsql as $$
declare
  v_id uuid := (select id from public.jobs where client_task_id = 'cv-' || p_key and kind <> 'convert_model');
  v_tok uuid;
begin
  update public.jobs set run_at = now() - interval '1 hour' where id = v_id;
  select c.lease_token into v_tok from bff.claim_jobs(50, 60, 50) c where c.job_id = v_id;
  perform bff.begin_submit(v_id, v_tok);
  -- Without a next poll time the lease stays with the submitter, which completes the job.
  perform bff.record_submission(v_id, v_tok, 'tripo-' || p_key);
  return bff.complete_job(v_id, v_tok, jsonb_build_array(jsonb_build_object(
    'bucket', 'generated-assets', 'path', 'u/models/cv-' || p_key || '/m.glb', 'url', 'https://x/m')));
end
$$;
create function pg_temp.src(p_key text) returns uuid language sql as $$
  select id from public.jobs where client_task_id = 'cv-' || p_key and kind <> 'convert_model'
$$;

select bff.set_credit_prices('{"text_to_model": 10, "convert_model": 5}');
select bff.grant_credits(tests.uid('vera'), 19, 'test', 'g-1');

-- Priced at enqueue: the model and its two conversions must be affordable; only the model's
-- price is held now.
select results_eq(
  $$ select outcome, balance, price from pg_temp.enq('vera', 'a', '{"output_formats":["USDZ","STL"]}') $$,
  $$ values ('insufficient_credits'::text, 19, 20) $$,
  'enqueue: the model and its conversions must be affordable (10 + 2 x 5 > 19)');
select bff.grant_credits(tests.uid('vera'), 1, 'test', 'g-2');
select results_eq(
  $$ select outcome, price from pg_temp.enq('vera', 'a', '{"output_formats":["USDZ","STL"]}') $$,
  $$ values ('created'::text, 10) $$, 'enqueue: accepted; the model''s price is held');
select is((select reserved from public.credit_accounts where user_id = tests.uid('vera')), 10::bigint,
  'enqueue: conversions hold nothing until they exist');

-- Completion chains one conversion per format, in its own transaction.
select ok(pg_temp.finish('a'), 'the model completes');
select results_eq(
  $$ select kind, state, request -> 'params' ->> 'format', request ->> 'original_model_task_id',
            request ->> 'tripo_type', cost, rate_bucket
     from public.jobs where source_job_id = pg_temp.src('a') order by request -> 'params' ->> 'format' $$,
  $$ values ('convert_model'::text, 'queued'::text, 'STL'::text, 'tripo-a'::text, 'convert_model'::text, 5, 'chained'::text),
            ('convert_model', 'queued', 'USDZ', 'tripo-a', 'convert_model', 5, 'chained') $$,
  'complete: a queued convert_model job per format, from the model''s provider task');
select results_eq(
  $$ select m.format, m.status, m.source_model_id = (select id from public.models where job_id = pg_temp.src('a')),
            m.task_id
     from public.models m join public.jobs j on j.id = m.job_id
     where j.source_job_id = pg_temp.src('a') order by m.format $$,
  $$ values ('STL'::text, 'pending'::text, true, 'cv-a'::text), ('USDZ', 'pending', true, 'cv-a') $$,
  'complete: each conversion has its own models row, linked to the source model');
select results_eq(
  $$ select count(*)::int, sum(amount)::int from public.credit_ledger l
     join public.jobs j on j.id = l.job_id
     where j.source_job_id = pg_temp.src('a') and l.entry = 'reserve' $$,
  $$ values (2, 10) $$, 'complete: each conversion holds its own price');
select results_eq(
  $$ select granted, charged, reserved from public.credit_accounts where user_id = tests.uid('vera') $$,
  $$ values (20::bigint, 10::bigint, 10::bigint) $$, 'the model is charged; the conversions are held');
select results_eq(
  $$ select c ->> 'format', c ->> 'status', (c ->> 'job_id')::uuid in (select id from public.jobs where source_job_id = pg_temp.src('a'))
     from bff.job_status(pg_temp.src('a'), tests.uid('vera')) s, jsonb_array_elements(s.conversions) c $$,
  $$ values ('USDZ'::text, 'pending'::text, true), ('STL', 'pending', true) $$,
  'job_status: the source lists its conversions in the order asked, with their status');
select is((select count(*)::int from bff.job_status(pg_temp.src('a'), tests.uid('walt'))), 0,
  'job_status: another user sees neither the job nor its conversions');
select is(
  (select bff.job_view(j, 0) ->> 'source_task_id' from public.jobs j
   where j.source_job_id = pg_temp.src('a') limit 1),
  pg_temp.src('a')::text, 'job_view: a conversion names its source');
select is((select bff.job_view(j, 0) -> 'source_task_id' from public.jobs j where j.id = pg_temp.src('a')),
  'null'::jsonb, 'job_view: a model that converts nothing has no source');

-- Chained once: completing again (a stale token) creates nothing more.
select is(bff.complete_job(pg_temp.src('a'), gen_random_uuid(), '[]'), false, 'a stale completion is refused');
select is(bff.chain_conversions(array[pg_temp.src('a')]), 0, 'chain_conversions: a model is chained once');
select is((select count(*)::int from public.jobs where source_job_id = pg_temp.src('a')), 2,
  'still two conversions');

-- A conversion failing leaves the source model as it was, and releases its own credits.
select bff.fail_job(j.id, c.lease_token, 'task_failed', 'The generation failed at the provider.')
from public.jobs j join bff.claim_jobs(50, 60, 50) c on c.job_id = j.id
where j.source_job_id = pg_temp.src('a') and j.request -> 'params' ->> 'format' = 'STL';
select results_eq(
  $$ select state from public.jobs where id = pg_temp.src('a') $$, $$ values ('succeeded'::text) $$,
  'a failed conversion leaves its source succeeded');
select results_eq(
  $$ select status from public.models where job_id = pg_temp.src('a') $$, $$ values ('complete'::text) $$,
  'and its source model complete');
select is((select reserved from public.credit_accounts where user_id = tests.uid('vera')), 5::bigint,
  'the failed conversion''s credits are released');

-- Prices that rose after the request was accepted: a conversion the user cannot pay for is
-- created failed (credits_exhausted), nothing held.
select bff.grant_credits(tests.uid('vera'), 10, 'test', 'g-3');
select pg_temp.enq('vera', 'b', '{"output_formats":["FBX"]}');
select bff.set_credit_prices('{"convert_model": 1000}');
select ok(pg_temp.finish('b'), 'the second model completes');
select results_eq(
  $$ select j.state, j.error_code, j.cost, m.status, j.finished_at is not null
     from public.jobs j join public.models m on m.job_id = j.id where j.source_job_id = pg_temp.src('b') $$,
  $$ values ('failed'::text, 'credits_exhausted'::text, 0, 'failed'::text, true) $$,
  'credits_exhausted: the conversion is created failed, its row failed, nothing held');
select is((select count(*)::int from public.credit_ledger l join public.jobs j on j.id = l.job_id
           where j.source_job_id = pg_temp.src('b')), 0, 'credits_exhausted: no ledger entry');
select bff.set_credit_prices('{"convert_model": 0}');

-- A conversion by URL (generate-convert-model) names the model row it converts.
select pg_temp.enq('vera', 'c', '{}', 'convert_model',
  jsonb_build_object('source_model_id', (select id from public.models where job_id = pg_temp.src('a')), 'format', 'USDZ'));
select results_eq(
  $$ select j.source_job_id = pg_temp.src('a'), m.format, m.source_model_id is not null
     from public.jobs j join public.models m on m.job_id = j.id where j.client_task_id = 'cv-c' $$,
  $$ values (true, 'USDZ'::text, true) $$, 'by URL: linked to the model and the job that made it');
select pg_temp.enq('walt', 'd', '{}', 'convert_model',
  jsonb_build_object('source_model_id', (select id from public.models where job_id = pg_temp.src('a')), 'format', 'STL'));
select results_eq(
  $$ select j.source_job_id, m.source_model_id
     from public.jobs j join public.models m on m.job_id = j.id where j.client_task_id = 'cv-d' $$,
  $$ values (null::uuid, null::uuid) $$, 'by URL: another user''s model is never linked');

-- Sources are GLB models only: a finished conversion is not one.
update public.models set status = 'complete', storage_bucket = 'generated-assets',
  storage_path = 'u/conv.usdz', ai_service_task_id = 'tripo-conv'
where job_id = (select id from public.jobs where source_job_id = pg_temp.src('a')
                and request -> 'params' ->> 'format' = 'USDZ');
select is_empty($$ select * from bff.find_source_model(tests.uid('vera'), 'generated-assets', 'u/conv.usdz') $$,
  'find_source_model: a converted model is not a source');
select is(bff.owns_draft(tests.uid('vera'), 'tripo-conv'), false, 'owns_draft: nor a draft');

select * from finish();
rollback;
