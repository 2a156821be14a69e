-- The batched and combined queue paths: complete_jobs (a batch, fenced per job by its lease),
-- record_submission scheduling the first poll, and the Tripo in-flight count.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(16);

select tests.create_user('ivy');

create function pg_temp.enq(p_key text, p_provider text, p_outputs int default 1)
returns uuid language sql as $$
  select job_id from bff.enqueue_job(tests.uid('ivy'),
    case p_provider when 'openai' then 'image_to_image' else 'text_to_model' end,
    p_provider, 'q-' || p_key, '{"prompt":"x"}', 'hdr:' || p_key, 'h', 'b', 1000, 1000,
    p_outputs, jsonb_build_object('table',
      case p_provider when 'openai' then 'concept_images' else 'models' end, 'prompt', 'p'))
$$;
create temp table leases as
  select null::uuid as job_id, null::uuid as lease_token, null::text as provider where false;

select pg_temp.enq('a', 'openai', 2);
select pg_temp.enq('b', 'openai', 1);
select pg_temp.enq('c', 'tripo');
insert into leases select job_id, lease_token, provider from bff.claim_jobs(10, 60, 10);

select is((select count(*)::int from leases), 3, 'three jobs claimed');
select is(bff.tripo_in_flight(), 1, 'a Tripo job leased for submission counts as in flight');

-- complete_jobs: a batch where one entry has a stale lease.
select results_eq(
  $$ select ok from bff.complete_jobs(jsonb_build_array(
       jsonb_build_object('job_id', (select id from public.jobs where client_task_id = 'q-a'),
         'lease_token', (select l.lease_token from leases l join public.jobs j on j.id = l.job_id
                         where j.client_task_id = 'q-a'),
         'outputs', '[{"bucket":"g","path":"u/concepts/q-a/0.png","url":"U0"},
                      {"bucket":"g","path":"u/concepts/q-a/1.png","url":"U1"}]'::jsonb),
       jsonb_build_object('job_id', (select id from public.jobs where client_task_id = 'q-b'),
         'lease_token', gen_random_uuid(),
         'outputs', '[{"bucket":"g","path":"x","url":"X"}]'::jsonb)))
     order by ok desc $$,
  $$ values (true), (false) $$,
  'complete_jobs: the holder''s job completes, a job with a stale token does not');
select results_eq(
  $$ select state from public.jobs where client_task_id in ('q-a', 'q-b') order by client_task_id $$,
  $$ values ('succeeded'::text), ('running'::text) $$,
  'complete_jobs: only the fenced job changed state');
select results_eq(
  $$ select image_index, status, storage_path from public.concept_images c
     join public.jobs j on j.id = c.job_id where j.client_task_id = 'q-a' order by image_index $$,
  $$ values (0, 'complete'::text, 'u/concepts/q-a/0.png'::text),
            (1, 'complete'::text, 'u/concepts/q-a/1.png'::text) $$,
  'complete_jobs: each concept image gets the output at its image_index');

-- Fewer outputs than images: the missing one fails instead of staying pending.
select is(bff.complete_job(
  (select id from public.jobs where client_task_id = 'q-b'),
  (select l.lease_token from leases l join public.jobs j on j.id = l.job_id where j.client_task_id = 'q-b'),
  '[]'::jsonb), true, 'complete_job (a batch of one) completes the job');
select results_eq(
  $$ select status from public.concept_images c join public.jobs j on j.id = c.job_id
     where j.client_task_id = 'q-b' $$,
  $$ values ('failed'::text) $$,
  'complete_jobs: an image the provider did not return ends failed');
select throws_ok($$ select bff.complete_job(gen_random_uuid(), gen_random_uuid(), '{}') $$,
  '22023', null, 'complete_job: outputs must be an array');

-- record_submission with a next run: stores the id, releases the lease, schedules the poll.
select is(bff.record_submission(
  (select id from public.jobs where client_task_id = 'q-c'),
  (select l.lease_token from leases l where l.provider = 'tripo'), 'tripo-q', 1.5), true,
  'record_submission with p_next_run_seconds succeeds for the holder');
select results_eq(
  $$ select provider_task_id, lease_token is null, run_at = now() + interval '1.5 s',
            submitted_at is not null
     from public.jobs where client_task_id = 'q-c' $$,
  $$ values ('tripo-q'::text, true, true, true) $$,
  'record_submission: lease released, first poll scheduled, submission recorded');
select is(bff.tripo_in_flight(), 1, 'a submitted Tripo job stays in flight after its lease');
select is(bff.record_submission(
  (select id from public.jobs where client_task_id = 'q-c'),
  (select l.lease_token from leases l where l.provider = 'tripo'), 'tripo-q2'), false,
  'record_submission: the released lease no longer holds the job');
select results_eq(
  $$ select ai_service_task_id, status from public.models m join public.jobs j on j.id = m.job_id
     where j.client_task_id = 'q-c' $$,
  $$ values ('tripo-q'::text, 'processing'::text) $$,
  'record_submission: the model row has the provider id');

-- claim honours the count: with the cap at 1 and one in flight, a new Tripo job waits.
select pg_temp.enq('d', 'tripo');
select is_empty($$ select * from bff.claim_jobs(10, 60, 1) where provider = 'tripo'
                   and client_task_id = 'q-d' $$,
  'claim: a Tripo job needing submission waits while the cap is full');

-- Fill and fairness together: one user with twelve due jobs and another with one; a claim of
-- ten takes the other user's job and still fills every slot.
select tests.create_user('jay');
update public.jobs set state = 'cancelled', finished_at = now(), lease_token = null,
  lease_expires_at = null where state in ('queued', 'running');
create function pg_temp.enq_for(p_user text, p_key text) returns uuid language sql as $$
  select job_id from bff.enqueue_job(tests.uid(p_user), 'image_to_image', 'openai', 'f-' || p_key,
    '{"prompt":"x"}', 'hdr:f-' || p_key, 'h', 'b', 1000, 1000, 1,
    '{"table":"concept_images","prompt":"p"}'::jsonb)
$$;
select pg_temp.enq_for('ivy', 'ivy-' || g) from generate_series(1, 12) g;
select pg_temp.enq_for('jay', 'jay-1');
create temp table fill_claim as select * from bff.claim_jobs(10, 60, 10);
select is((select count(*)::int from fill_claim), 10, 'claim: every slot is filled');
select ok(exists (select 1 from fill_claim where user_id = tests.uid('jay')),
  'claim: the user with one job is served in the same claim as the busy user');

select * from finish();
rollback;
