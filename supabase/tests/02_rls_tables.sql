-- Persona tests for every policy on the public tables: owner, another user, anon, service_role.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(45);

select tests.create_user('alice');
select tests.create_user('bob');

-- Fixtures, as the BFF (postgres): one OpenAI job (2 concept images) for alice, one Tripo job
-- (1 model) for bob, and one input asset each.
select bff.enqueue_job(tests.uid('alice'), 'image_to_image', 'openai', 'task-a', '{"secret":"alice"}',
  'hdr:a', 'ha', 'images', 100, 100, 2, '{"table":"concept_images","prompt":"p"}');
select bff.enqueue_job(tests.uid('bob'), 'text_to_model', 'tripo', 'task-b', '{"secret":"bob"}',
  'hdr:b', 'hb', 'models', 100, 100, 1, '{"table":"models","prompt":"p"}');
insert into public.input_assets (task_id, user_id, input_asset_type, prompt)
values ('task-a', tests.uid('alice'), 'uploaded_photo', 'alice-asset'),
       ('task-b', tests.uid('bob'), 'uploaded_photo', 'bob-asset');
select set_config('t.bob_job', (select id::text from public.jobs where client_task_id = 'task-b'),
  true);

-- input_assets: owner ------------------------------------------------------------------------
select tests.authenticate_as('alice');
select results_eq(
  $$ select prompt from public.input_assets $$, $$ values ('alice-asset'::text) $$,
  'input_assets: owner sees only their own rows'
);
select lives_ok(
  $$ insert into public.input_assets (task_id, user_id, input_asset_type, prompt)
     values ('task-a2', auth.uid(), 'text_prompt', 'alice-2') $$,
  'input_assets: owner can insert their own row'
);
select throws_ok(
  format($$ insert into public.input_assets (task_id, user_id, input_asset_type)
            values ('x', %L, 'text_prompt') $$, tests.uid('bob')),
  '42501', null, 'input_assets: owner cannot insert a row for another user'
);
select throws_ok(
  format($$ insert into public.input_assets (task_id, user_id, input_asset_type, job_id)
            values ('x', auth.uid(), 'text_prompt', %L) $$,
         current_setting('t.bob_job')),
  '42501', null, 'input_assets: owner cannot link a row to another user''s job'
);
update public.input_assets set prompt = 'alice-edited' where prompt = 'alice-asset';
select results_eq(
  $$ select count(*)::int from public.input_assets where prompt = 'alice-edited' $$,
  array[1], 'input_assets: owner can update their own row'
);
select throws_ok(
  format($$ update public.input_assets set user_id = %L where prompt = 'alice-edited' $$,
         tests.uid('bob')),
  '42501', null, 'input_assets: owner cannot hand a row to another user'
);
select throws_ok(
  $$ delete from public.input_assets where prompt = 'alice-edited' $$,
  '42501', null, 'input_assets: users cannot delete rows'
);
update public.input_assets set prompt = 'hijacked' where prompt = 'bob-asset';

-- input_assets: another user -------------------------------------------------------------
select tests.authenticate_as('bob');
select results_eq(
  $$ select prompt from public.input_assets $$, $$ values ('bob-asset'::text) $$,
  'input_assets: another user sees neither alice''s rows nor alice''s update of theirs'
);
update public.input_assets set prompt = 'bob-hijack' where user_id = tests.uid('alice');
select tests.clear_authentication();
select is(
  (select count(*)::int from public.input_assets where prompt = 'bob-hijack'), 0,
  'input_assets: another user cannot update the owner''s rows'
);

-- input_assets: anon and service_role -----------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok($$ select * from public.input_assets $$, '42501', null,
  'input_assets: anon cannot read');
select throws_ok(
  format($$ insert into public.input_assets (task_id, user_id, input_asset_type)
            values ('x', %L, 'text_prompt') $$, tests.uid('alice')),
  '42501', null, 'input_assets: anon cannot insert');
select tests.authenticate_as_service_role();
select results_eq($$ select count(*)::int from public.input_assets $$, array[3],
  'input_assets: service_role sees every row');

-- concept_images / models / jobs: read own, write never ------------------------------------
select tests.authenticate_as('alice');
select results_eq($$ select count(*)::int from public.concept_images $$, array[2],
  'concept_images: owner sees their own rows');
select results_eq($$ select count(*)::int from public.models $$, array[0],
  'models: owner sees no other user''s rows');
select results_eq($$ select client_task_id from public.jobs $$, $$ values ('task-a'::text) $$,
  'jobs: owner sees only their own jobs');
select results_eq(
  $$ select count(*)::int from public.jobs where request ->> 'secret' = 'bob' $$, array[0],
  'jobs: another user''s request payload is not readable');

select throws_ok(
  $$ insert into public.concept_images (task_id, user_id) values ('x', auth.uid()) $$,
  '42501', null, 'concept_images: owner cannot insert');
select throws_ok($$ update public.concept_images set status = 'complete' $$,
  '42501', null, 'concept_images: owner cannot update');
select throws_ok($$ delete from public.concept_images $$,
  '42501', null, 'concept_images: owner cannot delete');
select throws_ok(
  $$ insert into public.models (task_id, user_id) values ('x', auth.uid()) $$,
  '42501', null, 'models: owner cannot insert');
select throws_ok($$ update public.models set status = 'complete' $$,
  '42501', null, 'models: owner cannot update');
select throws_ok($$ delete from public.models $$,
  '42501', null, 'models: owner cannot delete');
select throws_ok(
  $$ insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
       request_hash, rate_bucket, deadline_at)
     values (auth.uid(), 'text_to_model', 'tripo', 'x', '{}', 'k', 'h', 'b', now()) $$,
  '42501', null, 'jobs: owner cannot insert');
select throws_ok($$ update public.jobs set state = 'succeeded' $$,
  '42501', null, 'jobs: owner cannot update');
select throws_ok($$ delete from public.jobs $$,
  '42501', null, 'jobs: owner cannot delete');
select throws_ok(
  $$ select bff.cancel_job(gen_random_uuid(), auth.uid()) $$,
  '42501', null, 'jobs: users cannot call the bff functions directly');

select tests.authenticate_as('bob');
select results_eq($$ select count(*)::int from public.concept_images $$, array[0],
  'concept_images: another user sees none of the owner''s rows');
select results_eq($$ select count(*)::int from public.models $$, array[1],
  'models: owner (bob) sees their own model');
select results_eq($$ select client_task_id from public.jobs $$, $$ values ('task-b'::text) $$,
  'jobs: another user sees only their own job');
select throws_ok($$ update public.models set status = 'complete' $$,
  '42501', null, 'models: another user cannot update');

select tests.authenticate_as_anon();
select throws_ok($$ select * from public.concept_images $$, '42501', null,
  'concept_images: anon cannot read');
select throws_ok($$ select * from public.models $$, '42501', null, 'models: anon cannot read');
select throws_ok($$ select * from public.jobs $$, '42501', null, 'jobs: anon cannot read');
select throws_ok(
  format($$ insert into public.concept_images (task_id, user_id) values ('x', %L) $$,
         tests.uid('alice')),
  '42501', null, 'concept_images: anon cannot insert');
select throws_ok($$ select bff.job_status(gen_random_uuid(), gen_random_uuid()) $$,
  '42501', null, 'jobs: anon cannot call the bff functions');

select tests.authenticate_as_service_role();
select results_eq($$ select count(*)::int from public.concept_images $$, array[2],
  'concept_images: service_role sees every row');
select results_eq($$ select count(*)::int from public.models $$, array[1],
  'models: service_role sees every row');
select results_eq($$ select count(*)::int from public.jobs $$, array[2],
  'jobs: service_role sees every row');
select lives_ok(
  format($$ insert into public.concept_images (task_id, user_id) values ('svc', %L) $$,
         tests.uid('alice')),
  'concept_images: service_role can insert');
select lives_ok(
  format($$ insert into public.models (task_id, user_id) values ('svc', %L) $$, tests.uid('bob')),
  'models: service_role can insert');
select lives_ok($$ update public.jobs set progress = 5 where client_task_id = 'task-a' $$,
  'jobs: service_role can update');
select results_eq(
  $$ select outcome from bff.enqueue_job(tests.uid('alice'), 'text_to_model', 'tripo', 'svc-job',
       '{}', 'hdr:svc', 'h', 'models', 100, 100, 1, '{"table":"models"}') $$,
  $$ values ('created'::text) $$,
  'jobs: service_role can call the bff functions');

-- Realtime can only carry a user's own rows because SELECT is limited; the owner reads the
-- service-role insert above, the other user does not.
select tests.authenticate_as('alice');
select results_eq($$ select count(*)::int from public.concept_images where task_id = 'svc' $$,
  array[1], 'concept_images: owner reads rows the BFF wrote for them');
select tests.authenticate_as('bob');
select results_eq($$ select count(*)::int from public.concept_images where task_id = 'svc' $$,
  array[0], 'concept_images: another user does not');
select results_eq($$ select count(*)::int from public.jobs where client_task_id = 'svc-job' $$,
  array[0], 'jobs: another user does not see a job created for the owner');

select tests.clear_authentication();
select * from finish();
rollback;
