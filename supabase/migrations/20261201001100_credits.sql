-- Credits (SPEC §11): every paid AI call is paid for, exactly once, by the user who asked.
--
-- A price per job kind (credit_prices, 0 for every kind to begin with, so a project that sets
-- none behaves as before); an append-only ledger (credit_ledger: grant, reserve, charge,
-- release); each user's account (credit_accounts), derived from the ledger by a trigger, with a
-- check that the available balance never goes below zero. A job's price is reserved in the same
-- transaction as the job (bff.enqueue_job); when the job ends the reservation is charged if it
-- completed and released otherwise: THE RULE: a user pays only for a result delivered to them.
-- A failure after a paid provider call (the provider failed or refused the task, a submission
-- that may have landed was not replayed, the result could not be stored) releases the credits
-- too: Tripo refunds failed tasks and OpenAI does not bill refused ones, and what the BFF could
-- not deliver is the project's cost, never the user's. One trigger on jobs applies the rule on
-- every path that ends a job (completion, failure, retries exhausted, cancel, deadline).

create table if not exists public.credit_prices (
  kind text primary key
    check (kind in ('image_to_image', 'text_to_model', 'image_to_model', 'sketch_to_model', 'refine_model')),
  price int not null default 0 check (price >= 0),
  updated_at timestamptz not null default now()
);
comment on table public.credit_prices is
  'Credits a job of each kind costs; changed with PUT /credits/prices (secret key) without a deploy.';
insert into public.credit_prices (kind)
values ('image_to_image'), ('text_to_model'), ('image_to_model'), ('sketch_to_model'), ('refine_model')
on conflict (kind) do nothing;

create table if not exists public.credit_ledger (
  id bigint generated always as identity primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  entry text not null check (entry in ('grant', 'reserve', 'charge', 'release')),
  amount int not null check (amount > 0),
  -- The job a reservation, charge or release belongs to. Not a foreign key: the ledger outlives
  -- the jobs that retention prunes, and it is never updated.
  job_id uuid,
  reason text check (length(reason) <= 200),
  -- A grant made with an Idempotency-Key (or the signup grant) happens once.
  idempotency_key text,
  created_at timestamptz not null default now(),
  constraint credit_ledger_job_entries check ((entry = 'grant') = (job_id is null))
);
comment on table public.credit_ledger is
  'Append-only: every grant, reservation, charge and release of credits. Users read their own.';
create index if not exists credit_ledger_user_idx on public.credit_ledger (user_id, id desc);
-- A job holds at most one reservation, and it ends at most once: charged or released.
create unique index if not exists credit_ledger_one_reserve
  on public.credit_ledger (job_id) where entry = 'reserve';
create unique index if not exists credit_ledger_one_end
  on public.credit_ledger (job_id) where entry in ('charge', 'release');
create unique index if not exists credit_ledger_grant_once
  on public.credit_ledger (user_id, idempotency_key) where entry = 'grant';

create table if not exists public.credit_accounts (
  user_id uuid primary key references auth.users (id) on delete cascade,
  granted bigint not null default 0,
  charged bigint not null default 0,
  reserved bigint not null default 0,
  updated_at timestamptz not null default now(),
  -- The available balance never goes below zero, nor does what is held.
  constraint credit_accounts_available check (granted - charged - reserved >= 0),
  constraint credit_accounts_reserved check (reserved >= 0)
);
comment on table public.credit_accounts is
  'Each user''s credits, derived from credit_ledger by its trigger: balance = granted - charged, '
  'available = balance - reserved.';

-- The ledger is append-only: no update, no delete (but the cascade when a user is deleted).
create or replace function bff.credit_ledger_append_only()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' and pg_trigger_depth() > 1 then
    return old;
  end if;
  raise exception 'credit_ledger is append-only' using errcode = '42501';
end
$$;
comment on function bff.credit_ledger_append_only() is
  'Trigger: refuses updates and deletes of credit_ledger rows (a deleted user''s cascade excepted).';
revoke all on function bff.credit_ledger_append_only() from public, anon, authenticated;
drop trigger if exists credit_ledger_append_only on public.credit_ledger;
create trigger credit_ledger_append_only before update or delete on public.credit_ledger
  for each row execute function bff.credit_ledger_append_only();

-- Every ledger row moves the account; the account's checks refuse what would go negative.
create or replace function bff.credit_ledger_apply()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- An empty account first, then the change: the checks apply to the account as it ends up.
  insert into public.credit_accounts (user_id) values (new.user_id) on conflict do nothing;
  update public.credit_accounts a set
    granted = a.granted + case new.entry when 'grant' then new.amount else 0 end,
    charged = a.charged + case new.entry when 'charge' then new.amount else 0 end,
    reserved = a.reserved + case new.entry
      when 'reserve' then new.amount when 'grant' then 0 else -new.amount end,
    updated_at = now()
  where a.user_id = new.user_id;
  return null;
end
$$;
comment on function bff.credit_ledger_apply() is
  'Trigger: applies a ledger row to the user''s account (grant +, reserve holds, charge spends, '
  'release frees).';
revoke all on function bff.credit_ledger_apply() from public, anon, authenticated;
drop trigger if exists credit_ledger_apply on public.credit_ledger;
create trigger credit_ledger_apply after insert on public.credit_ledger
  for each row execute function bff.credit_ledger_apply();

-- A job's end settles its reservation, on every path that ends a job.
create or replace function bff.settle_job_credits()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.credit_ledger (user_id, entry, amount, job_id, reason)
  select new.user_id, case new.state when 'succeeded' then 'charge' else 'release' end, new.cost,
         new.id, new.kind
  where exists (
    select 1 from public.credit_ledger l where l.job_id = new.id and l.entry = 'reserve'
  )
  on conflict do nothing;
  return null;
end
$$;
comment on function bff.settle_job_credits() is
  'Trigger: a job that ends charges its reservation if it completed and releases it otherwise.';
revoke all on function bff.settle_job_credits() from public, anon, authenticated;
drop trigger if exists jobs_settle_credits on public.jobs;
create trigger jobs_settle_credits after update on public.jobs
  for each row
  when (new.cost > 0 and old.state in ('queued', 'running')
        and new.state in ('succeeded', 'failed', 'cancelled'))
  execute function bff.settle_job_credits();

-- The user's available credits, creating the account (with the signup grant, once) on first use.
create or replace function bff.credit_available(p_user_id uuid, p_signup_grant int default 0)
returns int
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_available bigint;
begin
  select a.granted - a.charged - a.reserved into v_available
  from public.credit_accounts a where a.user_id = p_user_id;
  if not found then
    if coalesce(p_signup_grant, 0) > 0 then
      insert into public.credit_ledger (user_id, entry, amount, reason, idempotency_key)
      values (p_user_id, 'grant', p_signup_grant, 'signup', 'signup')
      on conflict do nothing;
    end if;
    select a.granted - a.charged - a.reserved into v_available
    from public.credit_accounts a where a.user_id = p_user_id;
  end if;
  return coalesce(v_available, 0)::int;
end
$$;
comment on function bff.credit_available(uuid, int) is
  'Available credits of a user (balance minus reservations); a new user gets the signup grant.';
revoke all on function bff.credit_available(uuid, int) from public, anon, authenticated;
grant execute on function bff.credit_available(uuid, int) to service_role;

-- GET /credits: the account and one page of the ledger, newest first.
create or replace function bff.credit_statement(
  p_user_id uuid, p_signup_grant int default 0, p_limit int default 50, p_before bigint default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_available int := bff.credit_available(p_user_id, p_signup_grant);
  v_account public.credit_accounts;
  v_entries jsonb;
  v_limit int := least(greatest(coalesce(p_limit, 50), 1), 200);
begin
  select * into v_account from public.credit_accounts a where a.user_id = p_user_id;
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', l.id, 'entry', l.entry, 'amount', l.amount, 'job_id', l.job_id,
           'reason', l.reason, 'created_at', l.created_at) order by l.id desc), '[]'::jsonb)
  into v_entries
  from (
    select * from public.credit_ledger l
    where l.user_id = p_user_id and (p_before is null or l.id < p_before)
    order by l.id desc
    limit v_limit
  ) l;
  return jsonb_build_object(
    'balance', coalesce(v_account.granted - v_account.charged, 0),
    'reserved', coalesce(v_account.reserved, 0),
    'available', v_available,
    'ledger', v_entries,
    'next_before', case when jsonb_array_length(v_entries) = v_limit
                        then (v_entries -> (v_limit - 1) ->> 'id')::bigint end
  );
end
$$;
comment on function bff.credit_statement(uuid, int, int, bigint) is
  'The caller''s balance, reservations and a page of the ledger (newest first, before an id).';
revoke all on function bff.credit_statement(uuid, int, int, bigint) from public, anon, authenticated;
grant execute on function bff.credit_statement(uuid, int, int, bigint) to service_role;

-- POST /credits/grant: once per Idempotency-Key (the same key again is the first grant).
create or replace function bff.grant_credits(
  p_user_id uuid, p_amount int, p_reason text, p_idempotency_key text
)
returns table (outcome text, entry_id bigint, available int)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id bigint;
  v_row public.credit_ledger;
begin
  if not exists (select 1 from auth.users u where u.id = p_user_id) then
    return query select 'no_user'::text, null::bigint, null::int;
    return;
  end if;
  insert into public.credit_ledger (user_id, entry, amount, reason, idempotency_key)
  values (p_user_id, 'grant', p_amount, p_reason, p_idempotency_key)
  on conflict (user_id, idempotency_key) where entry = 'grant' do nothing
  returning id into v_id;
  if v_id is null then
    select * into v_row from public.credit_ledger l
    where l.user_id = p_user_id and l.entry = 'grant' and l.idempotency_key = p_idempotency_key;
    return query select
      case when v_row.amount = p_amount and v_row.reason is not distinct from p_reason
           then 'existing' else 'conflict' end,
      v_row.id, bff.credit_available(p_user_id);
    return;
  end if;
  return query select 'created'::text, v_id, bff.credit_available(p_user_id);
end
$$;
comment on function bff.grant_credits(uuid, int, text, text) is
  'Grants credits once per idempotency key: created | existing (same grant) | conflict | no_user.';
revoke all on function bff.grant_credits(uuid, int, text, text) from public, anon, authenticated;
grant execute on function bff.grant_credits(uuid, int, text, text) to service_role;

-- PUT /credits/prices: the given kinds' prices; answers every price.
create or replace function bff.set_credit_prices(p_prices jsonb)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  with upd as (
    update public.credit_prices p set price = (e.value)::int, updated_at = now()
    from jsonb_each_text(p_prices) e
    where p.kind = e.key
    returning p.kind
  )
  select jsonb_object_agg(p.kind, coalesce(
           (select (p_prices ->> p.kind)::int from upd where upd.kind = p.kind), p.price))
  from public.credit_prices p
$$;
comment on function bff.set_credit_prices(jsonb) is
  'Sets the prices of the kinds given ({kind: price}) and answers all prices.';
revoke all on function bff.set_credit_prices(jsonb) from public, anon, authenticated;
grant execute on function bff.set_credit_prices(jsonb) to service_role;

create or replace function bff.credit_price_list()
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_object_agg(p.kind, p.price) from public.credit_prices p
$$;
comment on function bff.credit_price_list() is 'Every job kind''s price in credits ({kind: price}).';
revoke all on function bff.credit_price_list() from public, anon, authenticated;
grant execute on function bff.credit_price_list() to service_role;

-- Operators: per-user spend and the ledger's totals (service role only; the console's operator
-- tab reads them through the ops function).
create or replace view bff.credit_overview as
select a.user_id, a.granted, a.charged, a.reserved, a.granted - a.charged as balance,
  a.granted - a.charged - a.reserved as available,
  (select count(*) from public.credit_ledger l where l.user_id = a.user_id and l.entry = 'charge')
    as jobs_charged,
  a.updated_at
from public.credit_accounts a;
comment on view bff.credit_overview is 'Operators: each user''s credits and how many jobs they paid.';

create or replace view bff.credit_totals as
select l.entry, count(*)::bigint as entries, sum(l.amount)::bigint as amount
from public.credit_ledger l
group by l.entry;
comment on view bff.credit_totals is 'Operators: the ledger''s totals by entry kind.';
revoke all on bff.credit_overview, bff.credit_totals from public, anon, authenticated;
grant select on bff.credit_overview, bff.credit_totals to service_role;

-- RLS: users read their own ledger and account; prices are readable by signed-in users; only
-- the BFF writes (the service role and the definer functions above).
alter table public.credit_prices enable row level security;
alter table public.credit_ledger enable row level security;
alter table public.credit_accounts enable row level security;
revoke insert, update, delete, truncate, references, trigger
  on public.credit_prices, public.credit_ledger, public.credit_accounts from anon, authenticated;
revoke all on public.credit_ledger, public.credit_accounts from anon;
drop policy if exists "Signed-in users read the prices" on public.credit_prices;
create policy "Signed-in users read the prices" on public.credit_prices
  for select to authenticated using (true);
drop policy if exists "Users read their own ledger" on public.credit_ledger;
create policy "Users read their own ledger" on public.credit_ledger
  for select to authenticated using ((select auth.uid()) = user_id);
drop policy if exists "Users read their own account" on public.credit_accounts;
create policy "Users read their own account" on public.credit_accounts
  for select to authenticated using ((select auth.uid()) = user_id);
