begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(45);

-- RLS everywhere --------------------------------------------------------------------------
select is_empty(
  $$ select * from tests.tables_without_rls('public') $$,
  'every table in schema public has row level security enabled'
);
select is_empty(
  $$ select * from tests.tables_without_rls('bff') $$,
  'every table in schema bff has row level security enabled'
);
-- The guard itself can fail: a new table without RLS is reported.
create table public.rls_probe (id int);
select is(
  array(select * from tests.tables_without_rls('public')),
  array['rls_probe'],
  'the RLS guard reports a public table without RLS'
);
drop table public.rls_probe;

-- Tables and columns -----------------------------------------------------------------------
select has_table('public', t, 'table public.' || t || ' exists')
from unnest(array['input_assets', 'concept_images', 'models', 'jobs']) as t;

select has_column('public', t, c, t || '.' || c || ' exists')
from unnest(array['input_assets', 'concept_images', 'models']) as t,
     unnest(array['updated_at', 'storage_bucket', 'storage_path', 'job_id']) as c;

select has_column('public', 'concept_images', 'image_index', 'concept_images.image_index exists');
select has_column('public', 'models', 'progress', 'models.progress exists');
select has_column('public', 'models', 'source_concept_image_id', 'models.source_concept_image_id exists');

-- Checks ------------------------------------------------------------------------------------
select tests.create_user('schema_owner');
select throws_ok(
  format($$ insert into public.models (task_id, user_id, status) values ('t', %L, 'done') $$,
         tests.uid('schema_owner')),
  '23514', null, 'models.status rejects values outside pending|processing|complete|failed'
);
select throws_ok(
  format($$ insert into public.input_assets (task_id, user_id, input_asset_type)
            values ('t', %L, 'uploaded_video') $$, tests.uid('schema_owner')),
  '23514', null, 'input_assets.input_asset_type rejects unknown types'
);
select lives_ok(
  format($$ insert into public.input_assets (task_id, user_id, input_asset_type)
            values ('t', %L, 'uploaded_model') $$, tests.uid('schema_owner')),
  'input_assets.input_asset_type accepts uploaded_model'
);
select throws_ok(
  format($$ insert into public.jobs (user_id, kind, provider, client_task_id, request,
              idempotency_key, request_hash, rate_bucket, deadline_at)
            values (%L, 'video', 'openai', 't', '{}', 'k', 'h', 'b', now()) $$,
         tests.uid('schema_owner')),
  '23514', null, 'jobs.kind rejects unknown kinds'
);
select throws_ok(
  format($$ insert into public.jobs (user_id, kind, provider, client_task_id, request,
              idempotency_key, request_hash, rate_bucket, deadline_at, state)
            values (%L, 'text_to_model', 'tripo', 't', '{}', 'k', 'h', 'b', now(), 'paused') $$,
         tests.uid('schema_owner')),
  '23514', null, 'jobs.state rejects unknown states'
);

-- updated_at trigger ------------------------------------------------------------------------
update public.input_assets set updated_at = '2000-01-01', prompt = 'x'
where user_id = tests.uid('schema_owner');
select is(
  (select updated_at from public.input_assets where user_id = tests.uid('schema_owner')),
  now(),
  'updated_at is set by the trigger on update'
);

-- Indexes -------------------------------------------------------------------------------------
select has_index('public', 'jobs', 'jobs_claimable_idx', 'partial claim index exists');
select ok(
  (select pg_get_indexdef(indexrelid) like '%WHERE (state = ANY (ARRAY[''queued''::text, ''running''::text]))%'
   from pg_index where indexrelid = 'public.jobs_claimable_idx'::regclass),
  'claim index covers only queued/running rows'
);
select has_index('public', 'models', 'models_user_location_idx',
  array['user_id', 'storage_bucket', 'storage_path'], 'models (user_id, storage_bucket, storage_path) index');
select has_index('public', 'concept_images', 'concept_images_user_task_idx',
  array['user_id', 'task_id'], 'concept_images (user_id, task_id) index');
select has_index('public', 'concept_images', 'concept_images_job_idx', array['job_id'],
  'concept_images (job_id) index');

-- Buckets -----------------------------------------------------------------------------------
select results_eq(
  $$ select public, file_size_limit from storage.buckets where id = 'input-assets' $$,
  $$ values (false, 52428800::bigint) $$,
  'input-assets is private with a 20 MiB limit'
);
select ok(
  (select allowed_mime_types @> array['image/png', 'image/jpeg', 'image/webp', 'model/gltf-binary']
   from storage.buckets where id = 'input-assets'),
  'input-assets allows png, jpeg, webp and glb'
);
select is(
  (select public from storage.buckets where id = 'generated-assets'), false,
  'generated-assets exists and is private'
);

-- bff functions: definer, empty search_path, service_role only ----------------------------
select is_empty(
  $$ select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'bff' and p.prokind = 'f'
       -- Row triggers that only set NEW's own columns, and job_view and its parts and the queue
       -- place bands (inlined where they are used: a SET clause would prevent that); none of
       -- them reads or writes a table. And claim_candidates, inlined into claim_jobs (a definer)
       -- for the same reason: it reads jobs, and nobody but the owner may execute it.
       and p.proname not in ('set_updated_at', 'bump_event_seq', 'job_view', 'status_of',
                             'stored_outputs', 'queue_place_band', 'claim_candidates')
       and (not p.prosecdef or not coalesce(p.proconfig, '{}') @> array['search_path=""']) $$,
  'every bff function is security definer with search_path = '''''
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'bff'
       and (has_function_privilege('anon', p.oid, 'execute')
            or has_function_privilege('authenticated', p.oid, 'execute')) $$,
  'anon and authenticated cannot execute any bff function'
);
select ok(
  has_function_privilege('service_role',
    'bff.enqueue_job(uuid, text, text, text, jsonb, text, text, text, int, int, int, jsonb, int, int, int)',
    'execute'),
  'service_role can execute bff.enqueue_job'
);
select ok(has_function_privilege('service_role', 'bff.claim_jobs(int, int, int)', 'execute'),
  'service_role can execute bff.claim_jobs');
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'bff' and p.prokind = 'f'
       and p.proname not in ('set_updated_at', 'fail_job_rows')
       and obj_description(p.oid, 'pg_proc') is null $$,
  'every bff API function has a comment'
);
select ok(not has_schema_privilege('authenticated', 'bff', 'usage'),
  'authenticated has no usage on schema bff');
select ok(has_table_privilege('service_role', 'bff.queue_overview', 'select'),
  'service_role can read bff.queue_overview');
select ok(not has_table_privilege('authenticated', 'bff.failures_by_code', 'select'),
  'authenticated cannot read bff.failures_by_code');

select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     join pg_language l on l.oid = p.prolang
     where n.nspname = 'bff' and l.lanname = 'sql' and (p.prosecdef or p.proconfig is not null) $$,
  'no bff SQL function that cannot be inlined (SECURITY DEFINER or SET): PostgreSQL plans those '
  'on every call; they are plpgsql, planned once per connection'
);

select * from finish();
rollback;
