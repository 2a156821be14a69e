-- Handing back leases (an isolate shutting down), the next due time an idle loop sleeps until,
-- the refine ownership check, and the one list of job failure codes.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(12);

select tests.create_user('lea');
select tests.create_user('lou');

create function pg_temp.enq(p_key text) returns uuid language sql as $$
  select job_id from bff.enqueue_job(tests.uid('lea'), 'text_to_model', 'tripo', 'l-' || p_key,
    '{"prompt":"x"}', 'hdr:' || p_key, 'h', 'model', 1000, 1000, 1,
    jsonb_build_object('prompt', 'p'))
$$;
select pg_temp.enq('a');
select pg_temp.enq('b');
select pg_temp.enq('c');
create temp table held as select job_id, lease_token from bff.claim_jobs(2, 60, 10);

select is((select count(*)::int from held), 2, 'two jobs leased');
select is(bff.next_due_at() <= now(), true, 'next_due_at: the unclaimed job is due now');
select is(bff.release_leases(jsonb_build_array((select lease_token::text from held order by job_id limit 1), gen_random_uuid()::text)),
  1, 'release_leases: hands back exactly the held lease it names (an unknown token is ignored)');
select results_eq(
  $$ select lease_token is null, run_at <= now() from public.jobs
     where id = (select job_id from held order by job_id limit 1) $$,
  $$ values (true, true) $$,
  'release_leases: the job is unleased and due at once');
select is((select count(*)::int from bff.claim_jobs(5, 60, 10)), 2,
  'another claimer takes the released job (and the never-claimed one) at once');
select is(bff.release_leases('[]'::jsonb), 0, 'release_leases: nothing to hand back');
update public.jobs set state = 'succeeded', finished_at = now(), lease_token = null,
  lease_expires_at = null where user_id = tests.uid('lea');
select is(bff.next_due_at(), null, 'next_due_at: null when nothing is left to do');

-- owns_draft: only the caller's own finished models.
insert into public.models (task_id, user_id, status, ai_service_task_id)
values ('m1', tests.uid('lea'), 'complete', 'draft-lea'),
       ('m2', tests.uid('lea'), 'processing', 'draft-running');
select is(bff.owns_draft(tests.uid('lea'), 'draft-lea'), true, 'owns_draft: own finished model');
select is(bff.owns_draft(tests.uid('lou'), 'draft-lea'), false, 'owns_draft: not another user''s');
select is(bff.owns_draft(tests.uid('lea'), 'draft-running'), false, 'owns_draft: not one still running');

-- The failure codes the jobs table accepts.
select throws_ok(
  $$ update public.jobs set error_code = 'made_up' where user_id = tests.uid('lea') $$,
  '23514', null, 'an unknown failure code is refused by jobs_error_code_known');
select lives_ok(
  $$ update public.jobs set error_code = 'submission_unknown' where user_id = tests.uid('lea') $$,
  'a known failure code is accepted');

select * from finish();
rollback;
