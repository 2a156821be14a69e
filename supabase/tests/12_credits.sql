-- Credits: every ledger transition (grant, reserve, charge, release), the non-negative rule,
-- idempotent grants, the account derived from the ledger, append-only, and RLS per persona.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
select plan(33);

select tests.create_user('cora');
select tests.create_user('cole');

create function pg_temp.enq(p_key text, p_kind text default 'text_to_model', p_grant int default 0)
returns table (outcome text, job_id uuid, balance int, price int) language sql as $$
  select e.outcome, e.job_id, e.balance, e.price from bff.enqueue_job(tests.uid('cora'), p_kind,
    case p_kind when 'image_to_image' then 'openai' else 'tripo' end, 'cr-' || p_key,
    '{"prompt":"x"}', 'hdr:' || p_key, 'h', 'model', 1000, 1000, 1,
    jsonb_build_object('prompt', 'p'), 8, 3600, p_grant) e
$$;
create function pg_temp.account() returns table (granted bigint, charged bigint, reserved bigint)
language sql as $$
  select granted, charged, reserved from public.credit_accounts where user_id = tests.uid('cora')
$$;

-- Prices start at 0: nothing is reserved, the job is created as before.
select is((select count(*)::int from public.credit_prices where price <> 0), 0, 'every price starts at 0');
select results_eq($$ select outcome, price from pg_temp.enq('free') $$, $$ values ('created'::text, 0) $$,
  'price 0: created, nothing held');
select is((select count(*)::int from public.credit_ledger), 0, 'price 0: no ledger entry');

select bff.set_credit_prices('{"text_to_model": 30, "image_to_image": 10}');
select is(bff.credit_price_list() ->> 'text_to_model', '30', 'set_credit_prices: a price is set');
select is(bff.credit_price_list() ->> 'refine_model', '0', 'set_credit_prices: others unchanged');

-- Not enough: refused with the balance and the price, nothing created.
select results_eq($$ select outcome, balance, price, job_id from pg_temp.enq('poor') $$,
  $$ values ('insufficient_credits'::text, 0, 30, null::uuid) $$, 'insufficient: refused with balance and price');
select is((select count(*)::int from public.jobs where client_task_id = 'cr-poor'), 0,
  'insufficient: no job created');

-- Grants: once per key; the same key with another amount is a conflict.
select results_eq($$ select outcome, available from bff.grant_credits(tests.uid('cora'), 100, 'welcome', 'g-1') $$,
  $$ values ('created'::text, 100) $$, 'grant: created');
select results_eq($$ select outcome, available from bff.grant_credits(tests.uid('cora'), 100, 'welcome', 'g-1') $$,
  $$ values ('existing'::text, 100) $$, 'grant: the same key again grants nothing more');
select results_eq($$ select outcome from bff.grant_credits(tests.uid('cora'), 5, 'other', 'g-1') $$,
  $$ values ('conflict'::text) $$, 'grant: the same key with another grant is a conflict');
select results_eq($$ select outcome from bff.grant_credits(gen_random_uuid(), 5, 'x', 'g-2') $$,
  $$ values ('no_user'::text) $$, 'grant: an unknown user is refused');

-- Reserve with the job; an idempotent replay reserves nothing more.
select results_eq($$ select outcome, balance, price from pg_temp.enq('a') $$,
  $$ values ('created'::text, 70, 30) $$, 'reserve: the price is held, 70 left');
select results_eq($$ select outcome from pg_temp.enq('a') $$, $$ values ('existing'::text) $$,
  'replay: the same request again is the first job');
select results_eq($$ select * from pg_temp.account() $$, $$ values (100::bigint, 0::bigint, 30::bigint) $$,
  'replay: reserved once');
select pg_temp.enq('b');
select pg_temp.enq('c');
select results_eq($$ select outcome, balance, price from pg_temp.enq('d') $$,
  $$ values ('insufficient_credits'::text, 10, 30) $$, 'the available balance never goes below zero');

-- Charge on completion, release on failure and on cancel: exactly once each.
create temp table l as select job_id, lease_token, client_task_id from bff.claim_jobs(10, 60, 10);
select bff.complete_job((select job_id from l where client_task_id = 'cr-a'),
  (select lease_token from l where client_task_id = 'cr-a'), '[{"bucket":"b","path":"p","url":"u"}]');
select bff.fail_job((select job_id from l where client_task_id = 'cr-b'),
  (select lease_token from l where client_task_id = 'cr-b'), 'task_failed', 'Failed.');
select bff.cancel_job((select job_id from l where client_task_id = 'cr-c'), tests.uid('cora'));
select results_eq(
  $$ select j.client_task_id, l.entry from public.credit_ledger l join public.jobs j on j.id = l.job_id
     where l.entry <> 'reserve' order by 1 $$,
  $$ values ('cr-a'::text, 'charge'::text), ('cr-b', 'release'), ('cr-c', 'release') $$,
  'complete charges; failure and cancel release');
select results_eq($$ select * from pg_temp.account() $$, $$ values (100::bigint, 30::bigint, 0::bigint) $$,
  'the account: 30 spent, nothing held');
select is((select count(*)::int from public.credit_ledger l where l.entry in ('charge', 'release')
           group by l.job_id order by 1 desc limit 1), 1, 'no job settled twice');
-- A second end of an ended job changes nothing.
select bff.cancel_job((select job_id from l where client_task_id = 'cr-a'), tests.uid('cora'));
select results_eq($$ select * from pg_temp.account() $$, $$ values (100::bigint, 30::bigint, 0::bigint) $$,
  'ending twice settles once');
-- The account is what the ledger says.
select results_eq(
  $$ select sum(amount) filter (where entry = 'grant')::bigint, sum(amount) filter (where entry = 'charge')::bigint,
            (coalesce(sum(amount) filter (where entry = 'reserve'), 0)
             - coalesce(sum(amount) filter (where entry in ('charge', 'release')), 0))::bigint
     from public.credit_ledger where user_id = tests.uid('cora') $$,
  $$ select * from pg_temp.account() $$, 'the account is derived from the ledger');

-- Signup grant: once, on first use.
select is(bff.credit_available(tests.uid('cole'), 25), 25, 'signup: a new user starts with the grant');
select is(bff.credit_available(tests.uid('cole'), 25), 25, 'signup: granted once');

-- A new user's first priced enqueue: the signup grant first, then the hold (bff.hold_credits
-- finds no account the first time); not enough even with the grant: refused, nothing held.
select tests.create_user('cami');
select tests.create_user('cato');
create function pg_temp.enq_as(p_user text, p_key text, p_grant int)
returns table (outcome text, balance int, price int) language sql as $$
  select e.outcome, e.balance, e.price from bff.enqueue_job(tests.uid(p_user), 'text_to_model',
    'tripo', 'cs-' || p_key, '{"prompt":"x"}', 'hdr:' || p_key, 'h', 'model', 1000, 1000, 1,
    jsonb_build_object('prompt', 'p'), 8, 3600, p_grant) e
$$;
select results_eq($$ select * from pg_temp.enq_as('cami', 'first', 50) $$,
  $$ values ('created'::text, 20, 30) $$, 'signup then hold: the grant pays the first job');
select results_eq(
  $$ select granted, charged, reserved from public.credit_accounts where user_id = tests.uid('cami') $$,
  $$ values (50::bigint, 0::bigint, 30::bigint) $$, 'signup then hold: 30 held of 50');
select is((select count(*)::int from public.credit_ledger where user_id = tests.uid('cami')
           and entry = 'reserve'), 1, 'signup then hold: one reserve row');
select results_eq($$ select * from pg_temp.enq_as('cato', 'first', 25) $$,
  $$ values ('insufficient_credits'::text, 25, 30) $$, 'signup grant short of the price: refused');
select results_eq(
  $$ select granted, reserved from public.credit_accounts where user_id = tests.uid('cato') $$,
  $$ values (25::bigint, 0::bigint) $$, 'signup grant short of the price: granted, nothing held');
-- Reserve rows are written only by bff.hold_credits, and service code cannot call it directly.
select ok(not has_function_privilege('service_role',
  'bff.hold_credits(uuid, uuid, int, int, text)', 'execute'), 'hold_credits is internal');

-- Append-only.
select throws_ok($$ update public.credit_ledger set amount = 1 $$, '42501', null, 'the ledger cannot be updated');
select throws_ok($$ delete from public.credit_ledger $$, '42501', null, 'the ledger cannot be deleted from');

-- RLS per persona.
select tests.authenticate_as('cora');
select is((select count(distinct user_id)::int from public.credit_ledger), 1, 'a user reads only their own ledger');
select throws_ok($$ insert into public.credit_ledger (user_id, entry, amount, reason, idempotency_key)
                    values (auth.uid(), 'grant', 1000, 'self', 'x') $$, '42501', null, 'users cannot grant themselves');
select tests.authenticate_as('cole');
select is((select count(*)::int from public.credit_accounts where user_id = tests.uid('cora')), 0,
  'another user''s account is invisible');

select * from finish();
rollback;
