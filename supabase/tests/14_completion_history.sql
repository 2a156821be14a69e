-- A completion reads the jobs it completes and nothing of the finished history, even when the
-- statistics predate that history (analyzed while nothing had finished, as after a burst, or
-- before autovacuum's next ANALYZE). Counted with the transaction's own index statistics: tuples
-- read through jobs_finished_idx during one completion, a plain one and one that chains its
-- conversions. Both were one per finished job before 20261203000100.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(10);

select tests.create_user('una');

create function pg_temp.finished_idx_reads() returns bigint language sql as $$
  select pg_stat_get_xact_tuples_returned('public.jobs_finished_idx'::regclass)
$$;
create function pg_temp.enq(p_key text, p_kind text, p_provider text, p_request jsonb)
returns uuid language sql as $$
  select job_id from bff.enqueue_job(tests.uid('una'), p_kind, p_provider, 'ch-' || p_key,
    p_request, 'hdr:' || p_key, 'h', 'b', 1000, 1000, 1,
    jsonb_build_object('table',
      case p_provider when 'openai' then 'concept_images' else 'models' end, 'prompt', 'p'),
    8, 3600, 0)
$$;

-- 300 jobs that finish after the statistics were taken.
insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
  request_hash, rate_bucket, state, run_at, deadline_at)
select tests.uid('una'), 'image_to_image', 'openai', 'hist-' || g, '{}', 'hdr:hist-' || g, 'h',
  'image', 'queued', now() - interval '1 second', now() + interval '1 day'
from generate_series(1, 300) g;
analyze public.jobs;
update public.jobs set state = 'succeeded', finished_at = now(), result = '{"outputs": []}'
where client_task_id like 'hist-%';

-- A plain completion.
select isnt(pg_temp.enq('plain', 'image_to_image', 'openai', '{"prompt":"x"}'), null,
  'a plain job is accepted');
create temp table lease as
  select job_id, lease_token from bff.claim_jobs(10, 60, 10);
select is((select count(*)::int from lease), 1, 'the one queued job is claimed');
create temp table mark as select pg_temp.finished_idx_reads() as n;
select ok(bff.complete_job((select job_id from lease), (select lease_token from lease),
  '[{"bucket":"g","path":"u/concepts/ch-plain/0.png","url":"U"}]'), 'the job completes');
select is(pg_temp.finished_idx_reads() - (select n from mark), 0::bigint,
  'complete_job reads no finished job through jobs_finished_idx');

-- A model that asked for a conversion: completing it chains one, reading the model by its key.
select isnt(pg_temp.enq('model', 'text_to_model', 'tripo', '{"output_formats":["STL"]}'), null,
  'a model asking for a conversion is accepted');
truncate lease;
insert into lease select job_id, lease_token from bff.claim_jobs(10, 60, 10);
select is(bff.begin_submit((select job_id from lease), (select lease_token from lease)), 'ok',
  'the model''s submission begins');
select ok(bff.record_submission((select job_id from lease), (select lease_token from lease),
  'tripo-m'), 'the submission is recorded');
update mark set n = pg_temp.finished_idx_reads();
select ok(bff.complete_job((select job_id from lease), (select lease_token from lease),
  '[{"bucket":"generated-assets","path":"u/models/ch-model/m.glb","url":"https://x/m"}]'),
  'the model completes');
select is((select count(*)::int from public.jobs where source_job_id = (select job_id from lease)),
  1, 'the completion chained the conversion');
select is(pg_temp.finished_idx_reads() - (select n from mark), 0::bigint,
  'a completion that chains conversions reads no finished job through jobs_finished_idx');

select * from finish();
rollback;
