-- Queue moves reach the whole queue: when Tripo jobs leave it, every waiting job whose place
-- crossed a band (each place under 20, every 10th under 100, every 50th beyond) gets an event
-- with its exact new place, and no other waiting job does.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(12);
-- Function call counts of this transaction (pg_stat_xact_user_functions), for the cost test.
set local track_functions = 'all';

select tests.create_user('quinn');

-- 130 waiting Tripo jobs, in a known order (run_at a second apart).
select count(*) from (
  select bff.enqueue_job(tests.uid('quinn'), 'text_to_model', 'tripo', 'qm-' || i,
    '{"prompt":"x"}', 'hdr:qm-' || i, 'h', 'model', 1000, 1000, 1,
    jsonb_build_object('prompt', 'p'))
  from generate_series(0, 129) i
) made;
update public.jobs set run_at = now() - make_interval(secs => 1000 - substr(client_task_id, 4)::int)
where client_task_id like 'qm-%';

create function pg_temp.place_events() returns table (place int, payload_place int)
language sql as $$
  select substr(j.client_task_id, 4)::int, (m.payload ->> 'queue_position')::int
  from realtime.messages m join public.jobs j on j.id = (m.payload ->> 'task_id')::uuid
  where j.state = 'queued'
  order by 1
$$;
create function pg_temp.expected(p_left int, p_first int, p_count int) returns table (place int)
language sql as $$
  -- Job qm-i is now at place i - p_first; it was at most at i - p_first + p_left.
  select i from generate_series(p_first, p_first + p_count - 1) i
  where bff.queue_place_band(i - p_first) <> bff.queue_place_band(i - p_first + p_left)
  order by 1
$$;

select is(bff.queue_place_band(19) <> bff.queue_place_band(20)
          and bff.queue_place_band(20) = bff.queue_place_band(29)
          and bff.queue_place_band(29) <> bff.queue_place_band(30)
          and bff.queue_place_band(100) = bff.queue_place_band(149)
          and bff.queue_place_band(1000) = bff.queue_place_band(5000), true,
  'bands: each place under 20, tens under 100, fifties beyond, nothing past 1,000');

create function pg_temp.place_counts() returns bigint language sql as $$
  select coalesce(sum(calls), 0) from pg_stat_xact_user_functions
  where schemaname = 'bff' and funcname = 'queue_position'
$$;
create temp table seq_before as
  select id, event_seq from public.jobs where client_task_id like 'qm-%';
create temp table counts_before as select pg_temp.place_counts() as n;

-- The head of the queue is cancelled: one job left.
delete from realtime.messages;
select bff.cancel_job((select id from public.jobs where client_task_id = 'qm-0'), tests.uid('quinn'));
select is(pg_temp.place_counts() - (select n from counts_before), 0::bigint,
  'one left: the queue is ranked once, no renumbered job''s place is counted afresh');
select is((select count(*)::int from realtime.messages m
           join public.jobs j on j.id = (m.payload ->> 'task_id')::uuid
           join seq_before b on b.id = j.id
           where j.state = 'queued'
             and ((m.payload ->> 'seq')::int <> j.event_seq or j.event_seq <> b.event_seq + 1)), 0,
  'one left: each moved job''s seq went up by one, and its event carries it');
select is(coalesce(current_setting('bff.queue_renumbering', true), ''), '',
  'the renumbering''s setting does not outlive it (later updates send their own events)');
select results_eq($$ select place from pg_temp.place_events() $$,
  $$ select place from pg_temp.expected(1, 1, 129) $$,
  'one left: the first 20 move, and the jobs now 29th, 39th, … 99th');
select is((select count(*)::int from pg_temp.place_events()), 28,
  'one left: 28 events for 129 waiting jobs');
select is((select count(*)::int from pg_temp.place_events() where place - 1 <> payload_place), 0,
  'each event carries the job''s exact new place');
select ok((select bool_and(place <= 20 or place % 10 = 0) from pg_temp.place_events()),
  'far back, only the jobs that reached a new ten hear of it');

-- Five leave at once (claimed for submission within the cap).
delete from realtime.messages;
select is((select count(*)::int from bff.claim_jobs(5, 60, 100)), 5, 'five claimed at once');
select results_eq($$ select place from pg_temp.place_events() $$,
  $$ select place from pg_temp.expected(5, 6, 124) $$,
  'five left: every job whose place crossed a band, and only those');
select is((select count(*)::int from pg_temp.place_events() where place - 6 <> payload_place), 0,
  'five left: each event carries the exact new place');

-- A job that is not at the head leaving (a cancel in the middle) still moves the ones behind it.
delete from realtime.messages;
select bff.cancel_job((select id from public.jobs where client_task_id = 'qm-50'), tests.uid('quinn'));
-- qm-50 is 44th; behind it qm-i moves from place i - 6 to i - 7, so qm-56 reaches 49.
select results_eq($$ select payload_place from pg_temp.place_events() where place = 56 $$,
  $$ values (49) $$, 'a cancel in the middle: a job behind it that crossed a band hears of it');

select * from finish();
rollback;
