-- bff.enqueue_job: rows, idempotency outcomes, rate limit, active cap.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(31);

select tests.create_user('eve');
select tests.create_user('frank');

-- Shorthand for the common call (rate limit / active cap generous unless given).
create function pg_temp.enq(
  p_user text, p_kind text, p_provider text, p_key text, p_hash text,
  p_bucket text default 'b', p_rate int default 100, p_active int default 100, p_outputs int default 1
) returns table (outcome text, job_id uuid, retry_after_seconds int)
language sql as $$
  select e.outcome, e.job_id, e.retry_after_seconds from bff.enqueue_job(tests.uid(p_user), p_kind, p_provider, 'task-' || p_key,
    '{"prompt":"x"}', p_key, p_hash, p_bucket, p_rate, p_active, p_outputs,
    jsonb_build_object('table', case p_provider when 'openai' then 'concept_images' else 'models' end,
      'task_id', 'task-' || p_key, 'prompt', 'a cat', 'style', 'clay',
      'metadata', '{"m":1}'::jsonb)) e
$$;

-- created + rows ------------------------------------------------------------------------------
create temp table r1 as select * from pg_temp.enq('eve', 'image_to_image', 'openai', 'hdr:1', 'h1', p_outputs => 3);
select is((select outcome from r1), 'created', 'enqueue: a new request is created');
select isnt((select job_id from r1), null, 'enqueue: created returns the job id');
select results_eq(
  $$ select image_index, status, task_id, prompt, style, user_id = tests.uid('eve')
     from public.concept_images where job_id = (select job_id from r1) order by image_index $$,
  $$ values (0, 'pending'::text, 'task-hdr:1'::text, 'a cat'::text, 'clay'::text, true),
            (1, 'pending', 'task-hdr:1', 'a cat', 'clay', true),
            (2, 'pending', 'task-hdr:1', 'a cat', 'clay', true) $$,
  'enqueue: openai creates p_outputs concept_images rows (image_index 0..n-1), pending, linked');
select results_eq(
  $$ select state, attempts, progress, max_attempts, run_at = now(),
            deadline_at = now() + interval '3600 seconds', lease_token is null
     from public.jobs where id = (select job_id from r1) $$,
  $$ values ('queued'::text, 0, 0, 8, true, true, true) $$,
  'enqueue: the job is queued, due now, with the default deadline and attempts');

create temp table r2 as select * from pg_temp.enq('eve', 'text_to_model', 'tripo', 'hdr:m', 'hm');
select results_eq(
  $$ select count(*)::int, min(status), min(task_id) from public.models
     where job_id = (select job_id from r2) $$,
  $$ values (1, 'pending'::text, 'task-hdr:m'::text) $$,
  'enqueue: tripo creates exactly one pending models row');
select is((select count(*)::int from public.concept_images where job_id = (select job_id from r2)),
  0, 'enqueue: tripo creates no concept_images');

-- idempotency -------------------------------------------------------------------------------
select results_eq(
  $$ select outcome, job_id from pg_temp.enq('eve', 'image_to_image', 'openai', 'hdr:1', 'h1', p_outputs => 3) $$,
  $$ select 'existing'::text, job_id from r1 $$,
  'idempotency: same header key and same request returns the existing job');
select results_eq(
  $$ select outcome, job_id from pg_temp.enq('eve', 'image_to_image', 'openai', 'hdr:1', 'OTHER', p_outputs => 3) $$,
  $$ select 'conflict'::text, job_id from r1 $$,
  'idempotency: same header key with a different request is a conflict');
select is((select count(*)::int from public.concept_images where task_id = 'task-hdr:1'), 3,
  'idempotency: existing / conflict insert no rows');
select is((select outcome from pg_temp.enq('eve', 'text_to_model', 'tripo', 'hdr:1', 'h1')), 'created',
  'idempotency: the same key for another kind is a different request');
select is((select outcome from pg_temp.enq('frank', 'image_to_image', 'openai', 'hdr:1', 'h1')), 'created',
  'idempotency: keys are per user');

-- Header keys match even a failed job; body keys do not (the user may retry).
update public.jobs set state = 'failed', finished_at = now(), error_code = 'task_failed'
where id = (select job_id from r1);
select results_eq(
  $$ select outcome, job_id from pg_temp.enq('eve', 'image_to_image', 'openai', 'hdr:1', 'h1', p_outputs => 3) $$,
  $$ select 'existing'::text, job_id from r1 $$,
  'idempotency: a header key matches a failed job too');

create temp table b1 as select * from pg_temp.enq('eve', 'image_to_model', 'tripo', 'body:abc', 'hb');
select results_eq(
  $$ select outcome, job_id from pg_temp.enq('eve', 'image_to_model', 'tripo', 'body:abc', 'hb') $$,
  $$ select 'existing'::text, job_id from b1 $$,
  'idempotency: a body key matches a live job');
select results_eq(
  $$ select outcome, job_id from pg_temp.enq('eve', 'image_to_model', 'tripo', 'body:abc', 'hb2') $$,
  $$ select 'conflict'::text, job_id from b1 $$,
  'idempotency: a body key with a different hash conflicts with a live job');
update public.jobs set state = 'failed', finished_at = now() where id = (select job_id from b1);
create temp table b2 as select * from pg_temp.enq('eve', 'image_to_model', 'tripo', 'body:abc', 'hb');
select is((select outcome from b2), 'created',
  'idempotency: a body key does not match a failed job, so the user can retry');
select isnt((select job_id from b2), (select job_id from b1), 'idempotency: the retry is a new job');
update public.jobs set state = 'cancelled', finished_at = now() where id = (select job_id from b2);
select is((select outcome from pg_temp.enq('eve', 'image_to_model', 'tripo', 'body:abc', 'hb')), 'created',
  'idempotency: a body key does not match a cancelled job either');

select throws_ok(
  format($$ insert into public.jobs (user_id, kind, provider, client_task_id, request,
              idempotency_key, request_hash, rate_bucket, deadline_at)
            values (%L, 'image_to_image', 'openai', 'dup', '{}', 'hdr:1', 'h1', 'b', now()) $$,
         tests.uid('eve')),
  '23505', null, 'idempotency: the unique index refuses a second job with a header key');
select throws_ok(
  format($$ insert into public.jobs (user_id, kind, provider, client_task_id, request,
              idempotency_key, request_hash, rate_bucket, deadline_at)
            values (%L, 'image_to_model', 'tripo', 'dup', '{}', 'body:abc', 'hb', 'b', now()) $$,
         tests.uid('eve')),
  '23505', null, 'idempotency: the unique index refuses a second live job with a body key');

-- rate limit --------------------------------------------------------------------------------
select is((select outcome from pg_temp.enq('frank', 'text_to_model', 'tripo', 'hdr:r1', 'h', 'rl', 2)),
  'created', 'rate limit: first request in the window is created');
select is((select outcome from pg_temp.enq('frank', 'text_to_model', 'tripo', 'hdr:r2', 'h', 'rl', 2)),
  'created', 'rate limit: second request in the window is created');
select results_eq(
  $$ select outcome, job_id, retry_after_seconds
     from pg_temp.enq('frank', 'text_to_model', 'tripo', 'hdr:r3', 'h', 'rl', 2) $$,
  $$ values ('rate_limited'::text, null::uuid, 60) $$,
  'rate limit: the third is refused until the oldest leaves the 60 s window');
select is((select count(*)::int from public.jobs where idempotency_key = 'hdr:r3'), 0,
  'rate limit: a refused request inserts nothing');
update public.jobs set created_at = now() - interval '50 seconds' where idempotency_key = 'hdr:r1';
update public.jobs set created_at = now() - interval '20 seconds' where idempotency_key = 'hdr:r2';
select is(
  (select retry_after_seconds from pg_temp.enq('frank', 'text_to_model', 'tripo', 'hdr:r3', 'h', 'rl', 2)),
  10, 'rate limit: retry_after_seconds counts down to when the oldest leaves the window');
select is((select outcome from pg_temp.enq('frank', 'text_to_model', 'tripo', 'hdr:r3', 'h', 'other', 2)),
  'created', 'rate limit: buckets are independent');
update public.jobs set created_at = now() - interval '61 seconds' where idempotency_key = 'hdr:r1';
select is((select outcome from pg_temp.enq('frank', 'text_to_model', 'tripo', 'hdr:r4', 'h', 'rl', 2)),
  'created', 'rate limit: a job older than 60 s no longer counts');

-- active cap --------------------------------------------------------------------------------
-- frank now has 5 non-terminal jobs: hdr:1, r1, r2, r3, r4.
select results_eq(
  $$ select outcome, job_id, retry_after_seconds
     from pg_temp.enq('frank', 'text_to_model', 'tripo', 'hdr:c1', 'h', 'cap', 100, 5) $$,
  $$ values ('too_many_active'::text, null::uuid, 30) $$,
  'active cap: refused once the user has p_max_active non-terminal jobs');
update public.jobs set state = 'succeeded', finished_at = now() where idempotency_key = 'hdr:r1';
select is((select outcome from pg_temp.enq('frank', 'text_to_model', 'tripo', 'hdr:c1', 'h', 'cap', 100, 5)),
  'created', 'active cap: finished jobs do not count');
select is((select outcome from pg_temp.enq('eve', 'text_to_model', 'tripo', 'hdr:c1', 'h', 'cap', 100, 5)),
  'created', 'active cap: counted per user');

-- refusals of bad input -------------------------------------------------------------------
select throws_ok(
  $$ select * from pg_temp.enq('eve', 'image_to_image', 'openai', 'hdr:z', 'h', p_outputs => 0) $$,
  '22023', null, 'enqueue: openai needs 1..10 outputs');
select throws_ok(
  $$ select * from bff.enqueue_job(gen_random_uuid(), 'text_to_model', 'tripo', 't', '{}',
       'hdr:z', 'h', 'b', 10, 10, 1, '{"table":"models"}') $$,
  '23503', null, 'enqueue: the user must exist');

select * from finish();
rollback;
