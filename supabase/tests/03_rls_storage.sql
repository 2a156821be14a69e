-- Persona tests for every storage.objects policy: owner, another user, anon, service_role.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(28);

select tests.create_user('sally');
select tests.create_user('sam');
select set_config('t.sally', tests.uid('sally')::text, true);
select set_config('t.sam', tests.uid('sam')::text, true);

-- Fixtures as the storage service (bypasses RLS).
insert into storage.objects (bucket_id, name) values
  ('input-assets', current_setting('t.sam') || '/photo.png'),
  ('generated-assets', current_setting('t.sally') || '/concepts/t1/0.png'),
  ('generated-assets', current_setting('t.sam') || '/concepts/t2/0.png');

-- input-assets: owner ------------------------------------------------------------------------
select tests.authenticate_as('sally');
select lives_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('input-assets', auth.uid()::text || '/photo.png') $$,
  'input-assets: owner can upload into their own folder');
select throws_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('input-assets', current_setting('t.sam') || '/evil.png') $$,
  '42501', null, 'input-assets: owner cannot upload into another user''s folder');
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('input-assets', 'root.png') $$,
  '42501', null, 'input-assets: nobody can upload outside a user folder');
select results_eq(
  $$ select name from storage.objects where bucket_id = 'input-assets' $$,
  $$ values (current_setting('t.sally') || '/photo.png') $$,
  'input-assets: owner reads only their own folder');
update storage.objects set metadata = '{"v":2}'
where bucket_id = 'input-assets' and name = auth.uid()::text || '/photo.png';
select results_eq(
  $$ select metadata from storage.objects where bucket_id = 'input-assets' $$,
  $$ values ('{"v":2}'::jsonb) $$,
  'input-assets: owner can update their own objects');
select throws_ok(
  $$ update storage.objects set name = current_setting('t.sam') || '/moved.png'
     where bucket_id = 'input-assets' and name = auth.uid()::text || '/photo.png' $$,
  '42501', null, 'input-assets: owner cannot move an object into another user''s folder');
-- Attempts on sam's object silently match nothing.
update storage.objects set metadata = '{"hijacked":true}'
where name = current_setting('t.sam') || '/photo.png';
delete from storage.objects where name = current_setting('t.sam') || '/photo.png';

-- input-assets: another user -------------------------------------------------------------
select tests.authenticate_as('sam');
select results_eq(
  $$ select name, metadata from storage.objects where bucket_id = 'input-assets' $$,
  $$ values (current_setting('t.sam') || '/photo.png', null::jsonb) $$,
  'input-assets: another user neither reads, updates nor deletes the owner''s objects');
delete from storage.objects
where bucket_id = 'input-assets' and name = current_setting('t.sally') || '/photo.png';
select tests.authenticate_as('sally');
select results_eq(
  $$ select count(*)::int from storage.objects where bucket_id = 'input-assets' $$, array[1],
  'input-assets: another user cannot delete the owner''s object');
delete from storage.objects
where bucket_id = 'input-assets' and name = auth.uid()::text || '/photo.png';
select results_eq(
  $$ select count(*)::int from storage.objects where bucket_id = 'input-assets' $$, array[0],
  'input-assets: owner can delete their own object');

-- generated-assets: owner reads own folder, writes nothing --------------------------------
select results_eq(
  $$ select name from storage.objects where bucket_id = 'generated-assets' $$,
  $$ values (current_setting('t.sally') || '/concepts/t1/0.png') $$,
  'generated-assets: owner reads only their own folder');
select throws_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('generated-assets', auth.uid()::text || '/concepts/t9/0.png') $$,
  '42501', null, 'generated-assets: owner cannot upload, even into their own folder');
update storage.objects set metadata = '{"x":1}' where bucket_id = 'generated-assets';
delete from storage.objects where bucket_id = 'generated-assets';
select tests.clear_authentication();
select results_eq(
  $$ select count(*)::int from storage.objects
     where bucket_id = 'generated-assets' and metadata is null $$,
  array[2], 'generated-assets: owner can neither update nor delete');

select tests.authenticate_as('sam');
select results_eq(
  $$ select name from storage.objects where bucket_id = 'generated-assets' $$,
  $$ values (current_setting('t.sam') || '/concepts/t2/0.png') $$,
  'generated-assets: another user reads only their own folder');
select throws_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('generated-assets', current_setting('t.sally') || '/x.png') $$,
  '42501', null, 'generated-assets: another user cannot write into the owner''s folder');

-- anon ----------------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select results_eq($$ select count(*)::int from storage.objects $$, array[0],
  'anon reads no objects in either bucket');
select throws_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('input-assets', current_setting('t.sally') || '/anon.png') $$,
  '42501', null, 'anon cannot upload to input-assets');
select throws_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('generated-assets', current_setting('t.sally') || '/anon.png') $$,
  '42501', null, 'anon cannot upload to generated-assets');
delete from storage.objects;
update storage.objects set metadata = '{"anon":true}';

-- service_role ------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq($$ select count(*)::int from storage.objects where metadata is null $$,
  array[3], 'service_role sees every object; anon changed none');
select lives_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('generated-assets', current_setting('t.sally') || '/models/t3/model.glb') $$,
  'service_role can write generated assets');
select lives_ok(
  $$ update storage.objects set metadata = '{"size":1}'
     where name = current_setting('t.sally') || '/models/t3/model.glb' $$,
  'service_role can update generated assets');
select tests.authenticate_as('sally');
select results_eq(
  $$ select count(*)::int from storage.objects where bucket_id = 'generated-assets' $$,
  array[2], 'owner reads what the service role wrote into their folder');
select tests.authenticate_as_service_role();
select lives_ok(
  $$ delete from storage.objects where name = current_setting('t.sally') || '/models/t3/model.glb' $$,
  'service_role can delete generated assets');

-- Policy inventory: exactly the intended policies exist, all for authenticated.
select tests.clear_authentication();
select policies_are('storage', 'objects', array[
  'Users can upload input assets to their own folder',
  'Users can read input assets in their own folder',
  'Users can update input assets in their own folder',
  'Users can delete input assets in their own folder',
  'Users can read generated assets in their own folder'
], 'storage.objects has exactly the intended policies');
select policy_roles_are('storage', 'objects', p, array['authenticated'], p || ' applies to authenticated only')
from unnest(array[
  'Users can upload input assets to their own folder',
  'Users can read input assets in their own folder',
  'Users can update input assets in their own folder',
  'Users can delete input assets in their own folder',
  'Users can read generated assets in their own folder'
]) as p;

select * from finish();
rollback;
