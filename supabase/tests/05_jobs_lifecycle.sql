-- The job state machine: claim, lease, heartbeat, submission, progress, completion, failure,
-- retry, attempts exhausted, deadline, cancel, status, refine lookup, retention.
-- now() is fixed inside the transaction, so "later" is simulated by moving timestamps back.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(79);

select tests.create_user('gina');
select tests.create_user('hank');

create function pg_temp.enq(p_key text, p_provider text, p_outputs int default 1)
returns uuid language sql as $$
  select job_id from bff.enqueue_job(tests.uid('gina'),
    case p_provider when 'openai' then 'image_to_image' else 'text_to_model' end,
    p_provider, 'task-' || p_key, '{"prompt":"x"}', 'hdr:' || p_key, 'h', 'b', 1000, 1000,
    p_outputs, jsonb_build_object('table',
      case p_provider when 'openai' then 'concept_images' else 'models' end, 'prompt', 'p'))
$$;
-- Claims and remembers the lease tokens by job key.
create temp table leases (key text, job_id uuid, lease_token uuid);
create function pg_temp.claim(p_limit int default 10, p_cap int default 10)
returns setof uuid language sql as $$
  with c as (select * from bff.claim_jobs(p_limit, 60, p_cap)),
  ins as (
    insert into leases select j.client_task_id, c.job_id, c.lease_token
    from c join public.jobs j on j.id = c.job_id returning job_id
  )
  select job_id from ins
$$;
create function pg_temp.tok(p_key text) returns uuid language sql as $$
  select lease_token from leases where key = 'task-' || p_key order by ctid desc limit 1
$$;
create function pg_temp.id(p_key text) returns uuid language sql as $$
  select id from public.jobs where client_task_id = 'task-' || p_key
$$;

select pg_temp.enq('img', 'openai', 2);
select pg_temp.enq('mdl', 'tripo');

-- claim -------------------------------------------------------------------------------------
select results_eq(
  $$ select count(*)::int from pg_temp.claim() $$, array[2], 'claim: both due jobs are claimed');
select results_eq(
  $$ select state, lease_token = pg_temp.tok('img'), lease_expires_at = now() + interval '60 s'
     from public.jobs where id = pg_temp.id('img') $$,
  $$ values ('running'::text, true, true) $$,
  'claim: the job is running under the returned lease, expiring after p_lease_seconds');
select results_eq(
  $$ select distinct status from public.concept_images where job_id = pg_temp.id('img') $$,
  $$ values ('processing'::text) $$, 'claim: the job''s rows become processing');
select is_empty($$ select * from pg_temp.claim() $$,
  'claim: a leased job is not claimed again');
select results_eq(
  $$ select kind, provider, client_task_id, request, attempts, progress, provider_task_id
     from bff.claim_jobs(10, 60, 10) $$,
  $$ select null::text, null::text, null::text, null::jsonb, null::int, null::int, null::text
     where false $$,
  'claim: still nothing while leases are live');

-- heartbeat -------------------------------------------------------------------------------
select is(bff.heartbeat(pg_temp.id('img'), pg_temp.tok('img'), 120), true,
  'heartbeat: the lease holder extends the lease');
select is((select lease_expires_at from public.jobs where id = pg_temp.id('img')),
  now() + interval '120 s', 'heartbeat: lease_expires_at moves to now() + p_lease_seconds');
select is(bff.heartbeat(pg_temp.id('img'), gen_random_uuid(), 120), false,
  'heartbeat: a wrong token is refused');

-- begin_submit / record_submission -----------------------------------------------------------
select is(bff.begin_submit(pg_temp.id('mdl'), gen_random_uuid()), 'lease_lost',
  'begin_submit: a wrong token is lease_lost');
select is(bff.begin_submit(pg_temp.id('mdl'), pg_temp.tok('mdl')), 'ok',
  'begin_submit: first intent is ok');
select is((select submitted_at from public.jobs where id = pg_temp.id('mdl')), now(),
  'begin_submit: submitted_at is recorded before the paid call');
select is(bff.begin_submit(pg_temp.id('mdl'), pg_temp.tok('mdl')), 'ambiguous',
  'begin_submit: intent recorded but no task id is ambiguous (the call may have landed)');
select is(bff.record_submission(pg_temp.id('mdl'), gen_random_uuid(), 'tripo-1'), false,
  'record_submission: a wrong token is refused');
select is(bff.record_submission(pg_temp.id('mdl'), pg_temp.tok('mdl'), 'tripo-1'), true,
  'record_submission: the holder stores the provider task id');
select results_eq(
  $$ select ai_service_task_id, status from public.models where job_id = pg_temp.id('mdl') $$,
  $$ values ('tripo-1'::text, 'processing'::text) $$,
  'record_submission: the model row gets ai_service_task_id and processing');
select is(bff.begin_submit(pg_temp.id('mdl'), pg_temp.tok('mdl')), 'submitted',
  'begin_submit: with a task id stored it is submitted (never resubmit)');

-- record_progress ---------------------------------------------------------------------------
select is(bff.record_progress(pg_temp.id('mdl'), pg_temp.tok('mdl'), 40, 5), true,
  'record_progress: the holder records progress');
select results_eq(
  $$ select progress, lease_token, run_at = now() + interval '5 s', attempts, state
     from public.jobs where id = pg_temp.id('mdl') $$,
  $$ values (40, null::uuid, true, 0, 'running'::text) $$,
  'record_progress: progress stored, lease released, next poll scheduled, attempts untouched');
select is((select progress from public.models where job_id = pg_temp.id('mdl')), 40,
  'record_progress: the model row shows the progress');
select is(bff.record_progress(pg_temp.id('mdl'), pg_temp.tok('mdl'), 50, 5), false,
  'record_progress: after releasing, the old token no longer holds the job');
select is_empty($$ select * from pg_temp.claim() $$,
  'claim: a job is not claimed before its run_at');
select tests.make_due(pg_temp.id('mdl'));
select results_eq(
  $$ select c.provider_task_id, c.submitted_at = now(), c.progress
     from bff.claim_jobs(10, 60, 10) c $$,
  $$ values ('tripo-1'::text, true, 40) $$,
  'claim: a due polling job comes back with its provider task id and progress');
-- That claim's token was not remembered; expire it and claim through the helper.
select tests.expire_lease(pg_temp.id('mdl'));
select results_eq($$ select * from pg_temp.claim() $$, $$ select pg_temp.id('mdl') $$,
  'claim: an expired lease is claimable again');
select is(bff.record_progress(pg_temp.id('mdl'), pg_temp.tok('mdl'), 30, 5), true,
  'record_progress: a lower value is accepted');
select is((select progress from public.jobs where id = pg_temp.id('mdl')), 40,
  'record_progress: progress never goes backwards');

-- expired lease: the old holder loses the job -------------------------------------------------
select tests.make_due(pg_temp.id('mdl'));
select pg_temp.claim();
create temp table old_tok as select pg_temp.tok('mdl') as t;
select tests.expire_lease(pg_temp.id('mdl'));
select pg_temp.claim();
select isnt(pg_temp.tok('mdl'), (select t from old_tok), 'claim: a re-claim issues a fresh lease token');
select is(bff.complete_job(pg_temp.id('mdl'), (select t from old_tok), '[]'), false,
  'complete_job: refused without the lease (the old holder lost it)');
select is(bff.fail_job(pg_temp.id('mdl'), (select t from old_tok), 'task_failed', 'x'), false,
  'fail_job: refused without the lease');
select is(bff.retry_job(pg_temp.id('mdl'), (select t from old_tok), 'task_failed', 'x'), 'lease_lost',
  'retry_job: refused without the lease');

-- complete_job ------------------------------------------------------------------------------
select is(bff.complete_job(pg_temp.id('img'), pg_temp.tok('img'),
  '[{"bucket":"generated-assets","path":"u/concepts/task-img/0.png","url":"https://x/0"},
    {"bucket":"generated-assets","path":"u/concepts/task-img/1.png","url":"https://x/1"}]'), true,
  'complete_job: the holder completes the job');
select results_eq(
  $$ select state, progress, lease_token, finished_at = now(), jsonb_array_length(result -> 'outputs')
     from public.jobs where id = pg_temp.id('img') $$,
  $$ values ('succeeded'::text, 100, null::uuid, true, 2) $$,
  'complete_job: job succeeded, progress 100, outputs in result, lease cleared');
select results_eq(
  $$ select image_index, status, storage_bucket, storage_path, asset_url
     from public.concept_images where job_id = pg_temp.id('img') order by image_index $$,
  $$ values (0, 'complete'::text, 'generated-assets'::text, 'u/concepts/task-img/0.png'::text, 'https://x/0'::text),
            (1, 'complete', 'generated-assets', 'u/concepts/task-img/1.png', 'https://x/1') $$,
  'complete_job: each concept image gets the output at its image_index');
select is(bff.complete_job(pg_temp.id('img'), pg_temp.tok('img'), '[]'), false,
  'complete_job: a finished job cannot be completed again');
select is(bff.heartbeat(pg_temp.id('img'), pg_temp.tok('img'), 60), false,
  'heartbeat: refused on a finished job');

select is(bff.complete_job(pg_temp.id('mdl'), pg_temp.tok('mdl'),
  '[{"bucket":"generated-assets","path":"u/models/task-mdl/model.glb","url":"https://x/m"}]'), true,
  'complete_job: a model job completes');
select results_eq(
  $$ select status, storage_path, asset_url, progress from public.models where job_id = pg_temp.id('mdl') $$,
  $$ values ('complete'::text, 'u/models/task-mdl/model.glb'::text, 'https://x/m'::text, 100) $$,
  'complete_job: the model row gets its permanent location and progress 100');

-- job_status / find_source_model -----------------------------------------------------------
select results_eq(
  $$ select view ->> 'client_task_id', view ->> 'service', view ->> 'kind', view ->> 'status',
            (view ->> 'progress')::int, jsonb_array_length(outputs), jsonb_array_length(view -> 'outputs')
     from bff.job_status(pg_temp.id('img'), tests.uid('gina')) $$,
  $$ values ('task-img'::text, 'openai'::text, 'image_to_image'::text, 'complete'::text, 100, 2, 2) $$,
  'job_status: the owner sees a complete job with its outputs');
select is_empty($$ select * from bff.job_status(pg_temp.id('img'), tests.uid('hank')) $$,
  'job_status: another user''s job yields no row');
select is_empty($$ select * from bff.job_status(gen_random_uuid(), tests.uid('gina')) $$,
  'job_status: an unknown job yields no row');
select results_eq(
  $$ select task_id, model_id = (select m.id from public.models m where m.job_id = pg_temp.id('mdl'))
     from bff.find_source_model(tests.uid('gina'), 'generated-assets', 'u/models/task-mdl/model.glb') $$,
  $$ values ('tripo-1'::text, true) $$,
  'find_source_model: the owner''s complete model gives its provider task id and its row');
select is_empty($$ select * from bff.find_source_model(tests.uid('hank'), 'generated-assets',
  'u/models/task-mdl/model.glb') $$, 'find_source_model: another user gets nothing');
select is_empty($$ select * from bff.find_source_model(tests.uid('gina'), 'generated-assets',
  'u/models/other.glb') $$, 'find_source_model: another path gets nothing');

-- fail_job ----------------------------------------------------------------------------------
select pg_temp.enq('f', 'openai', 2);
select pg_temp.claim();
select is(bff.fail_job(pg_temp.id('f'), pg_temp.tok('f'), 'content_policy', 'The prompt was refused.'),
  true, 'fail_job: the holder fails the job');
select results_eq(
  $$ select state, error_code, error_message, finished_at = now(), lease_token
     from public.jobs where id = pg_temp.id('f') $$,
  $$ values ('failed'::text, 'content_policy'::text, 'The prompt was refused.'::text, true, null::uuid) $$,
  'fail_job: job failed with the error');
select results_eq(
  $$ select distinct status, error from public.concept_images where job_id = pg_temp.id('f') $$,
  $$ values ('failed'::text, 'The prompt was refused.'::text) $$,
  'fail_job: rows failed with the message');
select results_eq(
  $$ select view ->> 'status', view ->> 'error_code', view ->> 'error' from bff.job_status(pg_temp.id('f'), tests.uid('gina')) $$,
  $$ values ('failed'::text, 'content_policy'::text, 'The prompt was refused.'::text) $$,
  'job_status: failed job shows its error');

-- retry_job ---------------------------------------------------------------------------------
select pg_temp.enq('r', 'tripo');
update public.jobs set max_attempts = 3 where id = pg_temp.id('r');
select pg_temp.claim();
select is(bff.retry_job(pg_temp.id('r'), pg_temp.tok('r'), 'rate_limited', 'Busy, retrying.', 100),
  'retrying', 'retry_job: a transient error schedules a retry');
select results_eq(
  $$ select attempts, state, lease_token, error_code, error_message, run_at >= now() + interval '100 s'
     from public.jobs where id = pg_temp.id('r') $$,
  $$ values (1, 'queued'::text, null::uuid, 'rate_limited'::text, 'Busy, retrying.'::text, true) $$,
  'retry_job: attempts+1, lease cleared, last error kept, run_at at least Retry-After');
select is(bff.retry_job(pg_temp.id('r'), pg_temp.tok('r'), 'rate_limited', 'x'), 'lease_lost',
  'retry_job: the released lease no longer holds the job');
select is((select view ->> 'status' from bff.job_status(pg_temp.id('r'), tests.uid('gina'))), 'pending',
  'job_status: a queued job is pending');
select tests.make_due(pg_temp.id('r'));
select pg_temp.claim();
select is((select view ->> 'status' from bff.job_status(pg_temp.id('r'), tests.uid('gina'))), 'processing',
  'job_status: a running job is processing');
select is(bff.begin_submit(pg_temp.id('r'), pg_temp.tok('r')), 'ok', 'retry: submit intent recorded');
select is(bff.retry_job(pg_temp.id('r'), pg_temp.tok('r'), 'timeout', 'Timed out.'), 'retrying',
  'retry_job: second attempt retries');
select results_eq(
  $$ select attempts, submitted_at is not null, state,
            run_at between now() + interval '2 s' and now() + interval '4 s'
     from public.jobs where id = pg_temp.id('r') $$,
  $$ values (2, true, 'running'::text, true) $$,
  'retry_job: backoff 2 s * 2^(n-1) with equal jitter; submit intent kept unless cleared');
select tests.make_due(pg_temp.id('r'));
select pg_temp.claim();
select is(bff.begin_submit(pg_temp.id('r'), pg_temp.tok('r')), 'ambiguous',
  'retry: a kept submit intent makes the next attempt ambiguous');
update public.jobs set max_attempts = 8 where id = pg_temp.id('r');
select is(bff.retry_job(pg_temp.id('r'), pg_temp.tok('r'), 'timeout', 'Timed out.', null, true),
  'retrying', 'retry_job: retry that knows the call did not land');
select results_eq(
  $$ select submitted_at, state from public.jobs where id = pg_temp.id('r') $$,
  $$ values (null::timestamptz, 'queued'::text) $$,
  'retry_job: p_clear_submit clears the submit intent');
select ok(
  (select run_at <= now() + interval '300 s' from public.jobs where id = pg_temp.id('r')),
  'retry_job: backoff is capped at 300 s');

-- attempts exhausted -----------------------------------------------------------------------
update public.jobs set max_attempts = 4 where id = pg_temp.id('r');
select tests.make_due(pg_temp.id('r'));
select pg_temp.claim();
select is(bff.retry_job(pg_temp.id('r'), pg_temp.tok('r'), 'provider_unavailable', 'The 3D service failed.'),
  'failed', 'retry_job: the last attempt ends failed, not stuck in processing');
select results_eq(
  $$ select state, attempts, error_code, error_message, finished_at = now(), lease_token
     from public.jobs where id = pg_temp.id('r') $$,
  $$ values ('failed'::text, 4, 'provider_unavailable'::text, 'The 3D service failed.'::text, true, null::uuid) $$,
  'retry_job: attempts exhausted keeps the last error');
select results_eq(
  $$ select status, error from public.models where job_id = pg_temp.id('r') $$,
  $$ values ('failed'::text, 'The 3D service failed.'::text) $$,
  'retry_job: attempts exhausted fails the rows');

-- deadline ----------------------------------------------------------------------------------
select pg_temp.enq('d', 'openai', 1);
select pg_temp.enq('d2', 'tripo');
select pg_temp.claim();
update public.jobs set deadline_at = now() - interval '1 s' where id in (pg_temp.id('d'), pg_temp.id('d2'));
select tests.expire_lease(pg_temp.id('d2'));
select is_empty($$ select * from pg_temp.claim() $$,
  'deadline: a job past its deadline is not claimed');
select results_eq(
  $$ select state, error_code, error_message, lease_token from public.jobs
     where id in (pg_temp.id('d'), pg_temp.id('d2')) $$,
  $$ values ('failed'::text, 'deadline_exceeded'::text, 'The job did not finish in time.'::text, null::uuid),
            ('failed', 'deadline_exceeded', 'The job did not finish in time.', null) $$,
  'deadline: leased and unleased jobs past the deadline end failed');
select results_eq(
  $$ select (select status from public.concept_images where job_id = pg_temp.id('d')),
            (select status from public.models where job_id = pg_temp.id('d2')) $$,
  $$ values ('failed'::text, 'failed'::text) $$,
  'deadline: their rows are failed too');
select is(bff.complete_job(pg_temp.id('d'), pg_temp.tok('d'), '[]'), false,
  'deadline: the worker still holding the old lease cannot complete it');

-- cancel ------------------------------------------------------------------------------------
select pg_temp.enq('c', 'tripo');
select pg_temp.claim();
select is(bff.cancel_job(pg_temp.id('c'), tests.uid('hank')), 'not_found',
  'cancel: another user''s job is not_found');
select is(bff.cancel_job(gen_random_uuid(), tests.uid('gina')), 'not_found',
  'cancel: an unknown job is not_found');
select is(bff.cancel_job(pg_temp.id('c'), tests.uid('gina')), 'cancelled', 'cancel: owner cancels');
select results_eq(
  $$ select state, error_code, error_message, lease_token, finished_at = now()
     from public.jobs where id = pg_temp.id('c') $$,
  $$ values ('cancelled'::text, 'cancelled'::text, 'Cancelled by the user.'::text, null::uuid, true) $$,
  'cancel: job cancelled, lease cleared');
select is((select status from public.models where job_id = pg_temp.id('c')), 'failed',
  'cancel: rows failed');
select is(bff.cancel_job(pg_temp.id('c'), tests.uid('gina')), 'already_finished',
  'cancel: a finished job is already_finished');
select is(bff.record_submission(pg_temp.id('c'), pg_temp.tok('c'), 'late'), false,
  'cancel: the worker''s lease no longer holds the job');
select results_eq(
  $$ select state, provider_task_id, lease_token from public.jobs where id = pg_temp.id('c') $$,
  $$ values ('cancelled'::text, 'late'::text, null::uuid) $$,
  'cancel: a submission that lands after it is still recorded, and the job stays cancelled');
select is((select ai_service_task_id from public.models where job_id = pg_temp.id('c')), 'late',
  'cancel: its row names the provider task too');
select is((select view ->> 'status' from bff.job_status(pg_temp.id('c'), tests.uid('gina'))), 'failed',
  'job_status: a cancelled job is failed');

-- operator views ----------------------------------------------------------------------------
select ok(
  (select sum(jobs) = 2 from bff.failures_by_code where error_code = 'deadline_exceeded'),
  'failures_by_code counts failures by code');
select ok((select sum(jobs) = (select count(*) from public.jobs) from bff.queue_overview),
  'queue_overview counts every job');

-- retention ---------------------------------------------------------------------------------
update public.jobs set finished_at = now() - interval '31 days' where id = pg_temp.id('img');
select is(bff.prune_finished('30 days', 100), 1, 'prune_finished deletes old finished jobs only');
select results_eq(
  $$ select count(*)::int, count(job_id)::int from public.concept_images where task_id = 'task-img' $$,
  $$ values (2, 0) $$,
  'prune_finished keeps the rows, unlinked');

select * from finish();
rollback;
