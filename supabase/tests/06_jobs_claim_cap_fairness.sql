-- claim_jobs: the Tripo concurrency cap and fairness across users.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(15);

select tests.create_user('ivy');
select tests.create_user('jack');
select tests.create_user('kate');

create function pg_temp.enq(p_user text, p_key text, p_provider text)
returns uuid language sql as $$
  select job_id from bff.enqueue_job(tests.uid(p_user),
    case p_provider when 'openai' then 'image_to_image' else 'text_to_model' end,
    p_provider, p_key, '{}', 'hdr:' || p_key, 'h', 'b', 10000, 10000, 1,
    jsonb_build_object('table', case p_provider when 'openai' then 'concept_images' else 'models' end))
$$;
create temp table leases (key text, job_id uuid, lease_token uuid, provider text, user_id uuid);
create function pg_temp.claim(p_limit int, p_cap int)
returns setof text language sql as $$
  with c as (select * from bff.claim_jobs(p_limit, 60, p_cap)),
  ins as (
    insert into leases select c.client_task_id, c.job_id, c.lease_token, c.provider, c.user_id
    from c returning key
  )
  select key from ins
$$;
create function pg_temp.tok(p_key text) returns uuid language sql as $$
  select lease_token from leases where key = p_key order by ctid desc limit 1
$$;
create function pg_temp.id(p_key text) returns uuid language sql as $$
  select id from public.jobs where client_task_id = p_key
$$;

-- Tripo cap -------------------------------------------------------------------------------
select pg_temp.enq('ivy', 't' || i, 'tripo') from generate_series(1, 5) as i;
select results_eq($$ select count(*)::int from pg_temp.claim(10, 2) $$, array[2],
  'tripo cap: only p_tripo_cap jobs needing submission are claimed');
select is_empty($$ select * from pg_temp.claim(10, 2) $$,
  'tripo cap: jobs leased for submission count as in flight');
select pg_temp.enq('ivy', 'o1', 'openai');
select results_eq($$ select * from pg_temp.claim(10, 2) $$, $$ values ('o1'::text) $$,
  'tripo cap: OpenAI jobs are not held back by the Tripo cap');

create temp table first_two as select key from leases where provider = 'tripo';
-- One is submitted and waits for its next poll (no lease, but in flight at Tripo).
-- (wrapped in count(*): a bare 'ok' result line would be read as TAP)
select count(*) from (
  select bff.begin_submit(pg_temp.id(key), pg_temp.tok(key)) from first_two order by key limit 1
) s;
select bff.record_submission(pg_temp.id(key), pg_temp.tok(key), 'tripo-' || key)
from first_two order by key limit 1;
select bff.record_progress(pg_temp.id(key), pg_temp.tok(key), 10, 30) from first_two order by key limit 1;
select is_empty($$ select * from pg_temp.claim(10, 2) $$,
  'tripo cap: a submitted task waiting for its next poll still counts as in flight');
-- The other one's worker crashed before submitting: its expired lease frees the slot.
select tests.expire_lease(pg_temp.id(key)) from first_two order by key desc limit 1;
select results_eq($$ select count(*)::int from pg_temp.claim(10, 2) $$, array[1],
  'tripo cap: an expired unsubmitted lease frees its slot (and that job or another is claimed)');
select is_empty($$ select * from pg_temp.claim(10, 2) $$, 'tripo cap: cap reached again');
select is(
  (select count(*)::int from public.jobs j
   where j.provider = 'tripo' and j.state in ('queued', 'running')
     and (j.submitted_at is not null or j.lease_expires_at > now())),
  2, 'tripo cap: exactly p_tripo_cap Tripo tasks are in flight');

-- A submitted job that is due to poll is claimed even at the cap (it needs no new slot).
select tests.make_due(pg_temp.id(key)) from first_two order by key limit 1;
select results_eq($$ select * from pg_temp.claim(10, 2) $$,
  $$ select key from first_two order by key limit 1 $$,
  'tripo cap: polling an already submitted task is allowed at the cap');
-- Finishing a task frees a slot for the next waiting job.
select bff.fail_job(pg_temp.id(key), pg_temp.tok(key), 'task_failed', 'x') from first_two order by key limit 1;
select results_eq($$ select count(*)::int from pg_temp.claim(10, 2) $$, array[1],
  'tripo cap: a finished task frees one slot');
select is_empty($$ select * from pg_temp.claim(10, 0) $$, 'tripo cap: a cap of 0 claims no submissions');

-- Fairness ----------------------------------------------------------------------------------
-- Clear the board: finish everything so far.
update public.jobs set state = 'succeeded', finished_at = now(), lease_token = null,
  lease_expires_at = null where state in ('queued', 'running');
-- jack floods the queue with 50 older jobs; kate has one newer job.
select pg_temp.enq('jack', 'j' || i, 'openai') from generate_series(1, 50) as i;
update public.jobs set run_at = now() - make_interval(secs => 100 - substr(client_task_id, 2)::int)
where client_task_id like 'j%';
select pg_temp.enq('kate', 'k1', 'openai');
select results_eq(
  $$ select count(*)::int, count(*) filter (where key = 'k1')::int from pg_temp.claim(2, 10) as key $$,
  $$ values (2, 1) $$,
  'fairness: with two slots, each user with due work gets one');
select results_eq(
  $$ select key from leases where key like 'j%' $$, $$ values ('j1'::text) $$,
  'fairness: within a user, the oldest due job goes first');
select pg_temp.enq('kate', 'k2', 'openai');
select results_eq(
  $$ select count(*)::int, count(*) filter (where key = 'k2')::int from pg_temp.claim(5, 10) as key $$,
  $$ values (5, 1) $$,
  'fairness: one user''s backlog does not starve another user''s single job');
select results_eq(
  $$ select array_agg(key order by key) from leases where key like 'j%' $$,
  $$ values (array['j1', 'j2', 'j3', 'j4', 'j5']) $$,
  'fairness: the remaining slots go round-robin to the busy user, oldest first');

-- Claiming never hands out a job twice ----------------------------------------------------
select is_empty(
  $$ select job_id from leases group by job_id, lease_token having count(*) > 1 $$,
  'no lease token was issued twice for a job');

select * from finish();
rollback;
