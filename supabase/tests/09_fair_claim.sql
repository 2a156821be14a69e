-- claim_jobs after 20261125000700_cheaper_fair_claim.sql: round-robin between busy users, the
-- claim's own updated_at, and the trigger that still stamps every other writer's updates.
-- (The top-up past rows locked by a concurrent claimer needs two sessions: tests/db.)
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(9);

select tests.create_user('lea');
select tests.create_user('max');
select tests.create_user('ned');

create function pg_temp.enq(p_user text, p_key text) returns uuid language sql as $$
  select job_id from bff.enqueue_job(tests.uid(p_user), 'image_to_image', 'openai',
    'r-' || p_key, '{"prompt":"x"}', 'hdr:r-' || p_key, 'h', 'b', 1000, 1000, 1,
    '{"table":"concept_images","prompt":"p"}'::jsonb)
$$;

-- Two busy users: lea's ten jobs are all older than max's ten.
select pg_temp.enq('lea', 'lea-' || g) from generate_series(1, 10) g;
select pg_temp.enq('max', 'max-' || g) from generate_series(1, 10) g;
update public.jobs set run_at = now() - make_interval(secs => 100 - substr(client_task_id, 7)::int),
  updated_at = now() - interval '1 hour'
where client_task_id like 'r-lea-%';
update public.jobs set run_at = now() - make_interval(secs => 50 - substr(client_task_id, 7)::int),
  updated_at = now() - interval '1 hour'
where client_task_id like 'r-max-%';

create temp table c1 as select * from bff.claim_jobs(4, 60, 10);
select results_eq(
  $$ select count(*) filter (where j.user_id = tests.uid('lea'))::int,
            count(*) filter (where j.user_id = tests.uid('max'))::int
     from c1 join public.jobs j on j.id = c1.job_id $$,
  $$ values (2, 2) $$,
  'round-robin: two busy users share four slots equally, however old one backlog is');
select results_eq(
  $$ select array_agg(j.client_task_id order by j.client_task_id)
     from c1 join public.jobs j on j.id = c1.job_id $$,
  $$ values (array['r-lea-1', 'r-lea-2', 'r-max-1', 'r-max-2']) $$,
  'round-robin: each user''s oldest jobs go first');
select is(
  (select count(*)::int from c1 join public.jobs j on j.id = c1.job_id
   where j.updated_at = now() and j.state = 'running' and j.lease_token = c1.lease_token),
  4, 'the claim leases the rows and stamps updated_at itself');
select is(
  (select count(*)::int from c1 join public.concept_images ci on ci.job_id = c1.job_id
   where ci.status = 'processing'),
  4, 'the claimed jobs'' concept images are processing');
select is(
  (select count(*)::int from public.concept_images ci join public.jobs j on j.id = ci.job_id
   where j.lease_token is null and ci.status = 'pending'),
  16, 'unclaimed jobs'' concept images stay pending');

-- A claim with more slots than fair shares: the top-up fills them in due order.
create temp table c2 as select * from bff.claim_jobs(10, 60, 10);
select is((select count(*)::int from c2), 10, 'every slot is filled');
select is(
  (select count(*)::int from c2 join c1 using (job_id)), 0,
  'a leased job is not handed out again');

-- Other writers (here heartbeat) still get updated_at from the trigger.
update public.jobs set updated_at = now() - interval '1 hour'
where id = (select job_id from c1 limit 1);
select ok(
  bff.heartbeat((select job_id from c1 limit 1), (select lease_token from c1 limit 1), 60),
  'heartbeat on a held lease');
select is(
  (select updated_at from public.jobs where id = (select job_id from c1 limit 1)), now(),
  'the trigger stamps updated_at on writes that do not set it');

select * from finish();
rollback;
