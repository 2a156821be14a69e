-- Live job updates: every visible change of a job writes one `job` message to its owner's
-- private topic in the same transaction (seq increasing, nothing that expires), a lease renewal
-- writes none, queue moves reach the jobs waiting behind, and only the owner can read the topic;
-- nobody can write into it.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(21);

select tests.create_user('rita');
select tests.create_user('rolf');

create function pg_temp.enq(p_key text, p_provider text default 'tripo') returns uuid
language sql as $$
  select job_id from bff.enqueue_job(tests.uid('rita'),
    case p_provider when 'openai' then 'image_to_image' else 'text_to_model' end, p_provider,
    'lu-' || p_key, '{"prompt":"x"}', 'hdr:' || p_key, 'h', 'model', 1000, 1000, 1,
    jsonb_build_object('prompt', 'p'))
$$;
create function pg_temp.events(p_job uuid) returns table (seq int, status text, pos int)
language sql as $$
  select (payload ->> 'seq')::int, payload ->> 'status', (payload ->> 'queue_position')::int
  from realtime.messages where payload ->> 'task_id' = p_job::text
  order by (payload ->> 'seq')::int, inserted_at
$$;

select pg_temp.enq('a');
-- One transaction here, so now() is the same for both: put a ahead explicitly (no event).
update public.jobs set run_at = now() - interval '1 second' where client_task_id = 'lu-a';
select pg_temp.enq('b');
select results_eq($$ select seq, status, pos from pg_temp.events((select id from public.jobs where client_task_id = 'lu-b')) $$,
  $$ values (0, 'pending'::text, 1) $$, 'accepted: one event, second in the queue');
select is((select topic from realtime.messages limit 1), 'user:' || tests.uid('rita') || ':jobs',
  'the topic is the owner''s');
select is((select bool_and(private and extension = 'broadcast' and event = 'job')
           from realtime.messages), true, 'private broadcast messages, event job');
select is((select count(*)::int from realtime.messages where payload ? 'id'
           and payload ->> 'id' = id::text), (select count(*)::int from realtime.messages),
  'each payload carries its message id, as realtime.send writes it');

-- The first job starts (a claim within the cap of 1): started, and the one behind moves up.
create temp table l as select job_id, lease_token from bff.claim_jobs(1, 60, 1);
select results_eq($$ select seq, status, pos from pg_temp.events((select job_id from l)) $$,
  $$ values (0, 'pending'::text, 0), (1, 'processing'::text, 0) $$, 'started: seq 1');
select results_eq($$ select seq, status, pos from pg_temp.events((select id from public.jobs where client_task_id = 'lu-b')) $$,
  $$ values (0, 'pending'::text, 1), (1, 'pending'::text, 0) $$,
  'the job waiting behind gets its new place');

-- Progress with an ETA, then a lease renewal alone (no event), then success.
select bff.record_progress((select job_id from l), (select lease_token from l), 30, 0, 42);
select results_eq($$ select (payload ->> 'progress')::int, (payload ->> 'eta_seconds')::int
                     from realtime.messages where payload ->> 'task_id' = (select job_id from l)::text
                     and (payload ->> 'seq')::int = 2 $$,
  $$ values (30, 42) $$, 'progress: the progress and the provider''s ETA');
delete from l;
insert into l select job_id, lease_token from bff.claim_jobs(2, 60, 5)
  where client_task_id = 'lu-a';
select is((select count(*)::int from pg_temp.events((select job_id from l))), 3,
  'a claim that only renews the lease sends nothing');
select bff.complete_job((select job_id from l), (select lease_token from l),
  '[{"bucket":"generated-assets","path":"u/models/lu-a/x.glb","url":"http://x/storage/v1/object/authenticated/generated-assets/u/models/lu-a/x.glb"}]');
select results_eq(
  $$ select payload ->> 'status', payload -> 'outputs', payload -> 'eta_seconds' from realtime.messages
     where payload ->> 'task_id' = (select job_id from l)::text order by (payload ->> 'seq')::int desc limit 1 $$,
  $$ values ('complete'::text, '[{"bucket":"generated-assets","path":"u/models/lu-a/x.glb"}]'::jsonb, 'null'::jsonb) $$,
  'complete: outputs as bucket + path, no URL, no ETA');
select is((select count(*)::int from realtime.messages where payload::text like '%http%'), 0,
  'no URL in any payload');
select results_eq($$ select seq from pg_temp.events((select job_id from l)) $$,
  $$ values (0), (1), (2), (3) $$, 'seq increases by one per visible change');

-- Cancelled: the last event is the terminal one.
select bff.cancel_job((select id from public.jobs where client_task_id = 'lu-b'), tests.uid('rita'));
select results_eq($$ select status from pg_temp.events((select id from public.jobs where client_task_id = 'lu-b'))
                     order by seq desc limit 1 $$,
  $$ values ('failed'::text) $$, 'cancelled: ends with the terminal event');

-- Who may read and write the topic.
select set_config('realtime.topic', 'user:' || tests.uid('rita') || ':jobs', true);
select tests.authenticate_as('rita');
select ok((select count(*) from realtime.messages) > 0, 'the owner reads their topic');
select throws_ok($$ insert into realtime.messages (topic, extension, event, payload, private)
                    values (realtime.topic(), 'broadcast', 'job', '{}', true) $$,
  '42501', null, 'not even the owner can broadcast into it');
select tests.authenticate_as('rolf');
select is((select count(*)::int from realtime.messages), 0, 'another user reads nothing of it');
select tests.authenticate_as_anon();
select is((select count(*)::int from realtime.messages), 0, 'anon reads nothing');

-- The payload is built for every row a statement changes: job_view must be inlined there (a
-- sub-select in its body would stop that and cost about 3x per event).
select tests.clear_authentication();
create function pg_temp.plan_of(p_query text) returns text language plpgsql as $f$
declare
  v text := '';
  r record;
begin
  for r in execute 'explain (verbose, costs off) ' || p_query loop
    v := v || r."QUERY PLAN" || E'\n';
  end loop;
  return v;
end
$f$;
select doesnt_match(pg_temp.plan_of('select bff.job_view(j, 0) from public.jobs j'), 'job_view',
  'job_view is inlined into its caller');
select is((select bff.job_view(j, 0) -> 'outputs' from public.jobs j where j.client_task_id = 'lu-a'),
  '[{"bucket":"generated-assets","path":"u/models/lu-a/x.glb"}]'::jsonb,
  'job_view outputs: bucket + path in order, as before');

-- Best effort: with no partition to write into (Realtime has not made today's yet), the events
-- are dropped with a warning and the jobs' own changes stand.
do $$
declare
  part text;
begin
  for part in select c.oid::regclass::text from pg_inherits i join pg_class c on c.oid = i.inhrelid
              where i.inhparent = 'realtime.messages'::regclass loop
    execute format('alter table realtime.messages detach partition %s', part);
  end loop;
end
$$;
set local client_min_messages = error;
select isnt(pg_temp.enq('np', 'openai'), null, 'no partition: the job is still created');
delete from l;
insert into l select job_id, lease_token from bff.claim_jobs(5, 60, 5) where client_task_id = 'lu-np';
select is((select state from public.jobs where client_task_id = 'lu-np'), 'running',
  'no partition: the claim still takes it');
select bff.cancel_job((select id from public.jobs where client_task_id = 'lu-np'), tests.uid('rita'));
select is((select state from public.jobs where client_task_id = 'lu-np'), 'cancelled',
  'no partition: the cancel still lands');
set local client_min_messages = warning;

select * from finish();
rollback;
